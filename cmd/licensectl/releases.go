package main

import (
	"context"
	"strconv"

	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
)

func releaseRow(r *signerv1.Release) []string {
	return []string{r.GetVersion(), ts(r.GetReleasedAt()), strconv.Itoa(int(r.GetSupportMonths())), ts(r.GetExpiration())}
}

var releaseHeader = []string{"VERSION", "RELEASED", "MONTHS", "SUPPORTED UNTIL"}

func releasesList(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	if err := e.parse(fs, args); err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Signer.GetSupportedVersions(ctx, &signerv1.GetSupportedVersionsRequest{})
	if err != nil {
		return err
	}
	var rows [][]string
	for _, r := range resp.GetReleases() {
		rows = append(rows, releaseRow(r))
	}
	return e.print(resp, releaseHeader, rows)
}

func releasesRecord(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	version := fs.String("version", "", "release version, MAJOR.MINOR.PATCH (required)")
	released := fs.String("released", "", "release date (2006-01-02) or RFC 3339 time (required)")
	months := fs.Int("months", 0, "months of support after the release (default: the policy's, see versions policy)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if *version == "" || *released == "" {
		return usageError{"-version and -released are required"}
	}
	at, err := dayFlag("released", *released)
	if err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Signer.RecordRelease(ctx, &signerv1.RecordReleaseRequest{Version: *version, ReleasedAt: at, SupportMonths: int32(*months)})
	if err != nil {
		return err
	}
	return e.print(resp, releaseHeader, [][]string{releaseRow(resp.GetRelease())})
}
