package main

import (
	"context"
	"strconv"
	"strings"

	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
)

func limitText(v *int64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatInt(*v, 10)
}

func usageGet(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	n := fs.Int("history", 20, "how many reports of the history to show (<= 500)")
	ws, err := workspaceArg(e, fs, args)
	if err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Sync.GetUsage(ctx, &syncv1.GetUsageRequest{WorkspaceId: ws, HistoryLimit: int32(*n)})
	if err != nil {
		return err
	}
	if e.output == "table" {
		l := resp.GetLimits()
		e.stdout.Write([]byte("license " + strconv.FormatInt(resp.GetLicenseSequence(), 10) + ": activeUsers " + limitText(l.ActiveUsers) +
			", monthlyActiveContacts " + limitText(l.MonthlyActiveContacts) + "; over: " + orDash(strings.Join(resp.GetOver(), ", ")) + "\n\n"))
	}
	var rows [][]string
	for _, r := range resp.GetHistory() {
		rows = append(rows, []string{ts(r.GetReceivedAt()), strconv.FormatInt(r.GetSeats(), 10), strconv.FormatInt(r.GetMonthlyActiveContacts(), 10),
			orDash(r.GetVersion()), orDash(r.GetAddress())})
	}
	return e.print(resp, []string{"RECEIVED", "ACTIVE USERS", "MAC", "VERSION", "ADDRESS"}, rows)
}

func usageOverLimit(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	rest, err := parseMixed(e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usageError{"expected no arguments"}
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	all := &syncv1.ListOverLimitResponse{}
	for token := ""; ; {
		resp, err := c.Sync.ListOverLimit(ctx, &syncv1.ListOverLimitRequest{PageSize: 1000, PageToken: token})
		if err != nil {
			return err
		}
		all.Workspaces = append(all.Workspaces, resp.GetWorkspaces()...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	var rows [][]string
	for _, w := range all.GetWorkspaces() {
		u, l := w.GetLatest(), w.GetLimits()
		rows = append(rows, []string{w.GetWorkspaceId(), strings.Join(w.GetOver(), ", "),
			strconv.FormatInt(u.GetSeats(), 10) + "/" + limitText(l.ActiveUsers),
			strconv.FormatInt(u.GetMonthlyActiveContacts(), 10) + "/" + limitText(l.MonthlyActiveContacts), ts(u.GetReceivedAt())})
	}
	return e.print(all, []string{"WORKSPACE", "OVER", "ACTIVE USERS", "MAC", "REPORTED"}, rows)
}
