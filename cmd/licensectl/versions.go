package main

import (
	"context"
	"strconv"

	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
)

var policyHeader = []string{"DEFAULT MONTHS", "ENFORCED FROM", "RELEASES", "EXCEPTIONS", "UPDATED"}

func policyRow(p *signerv1.VersionPolicy) []string {
	enforced := "never"
	if p.GetEnforceFrom() != nil {
		enforced = ts(p.GetEnforceFrom())
	}
	return []string{strconv.Itoa(int(p.GetDefaultSupportMonths())), enforced, strconv.Itoa(len(p.GetReleases())), strconv.Itoa(len(p.GetExceptions())), ts(p.GetUpdatedAt())}
}

// versionsPolicy shows the policy, or changes it when a flag is given.
func versionsPolicy(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	months := fs.Int("default-months", 0, "months of support of releases recorded without their own window (1 to 120)")
	enforce := fs.String("enforce-from", "", "refuse unsupported versions from this date (the start of the UTC day) or RFC 3339 time")
	never := fs.Bool("never-enforce", false, "stop refusing unsupported versions")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	from, err := dayFlag("enforce-from", *enforce)
	if err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	var p *signerv1.VersionPolicy
	if *months != 0 || from != nil || *never {
		resp, err := c.Versions.SetVersionPolicy(ctx, &signerv1.SetVersionPolicyRequest{DefaultSupportMonths: int32(*months), EnforceFrom: from, NeverEnforce: *never})
		if err != nil {
			return err
		}
		p = resp.GetPolicy()
	} else {
		resp, err := c.Versions.GetVersionPolicy(ctx, &signerv1.GetVersionPolicyRequest{})
		if err != nil {
			return err
		}
		p = resp.GetPolicy()
	}
	return e.print(p, policyHeader, [][]string{policyRow(p)})
}

func versionsCheck(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	version := fs.String("version", "", "the version a workspace reports, e.g. 7.2.1 (required)")
	ws := fs.String("workspace", "", "the workspace (its license's and customer's exceptions apply)")
	customer := fs.String("customer", "", "the customer (its exceptions apply)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if *version == "" {
		return usageError{"-version is required"}
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Versions.CheckVersion(ctx, &signerv1.CheckVersionRequest{WorkspaceId: *ws, CustomerId: *customer, Version: *version})
	if err != nil {
		return err
	}
	return e.print(resp, []string{"SUPPORTED", "REFUSED", "LINE", "SUPPORTED UNTIL", "EXCEPTION", "MESSAGE"}, [][]string{{
		strconv.FormatBool(resp.GetSupported()), strconv.FormatBool(resp.GetRefused()), orDash(resp.GetLine()),
		ts(resp.GetExpiration()), orDash(resp.GetExceptionId()), orDash(resp.GetMessage()),
	}})
}

var exceptionHeader = []string{"ID", "CUSTOMER", "LICENSE", "WORKSPACE", "LINE", "UNTIL (END OF DAY UTC)", "REMOVED", "REASON"}

func exceptionRow(x *signerv1.VersionException) []string {
	return []string{x.GetId(), orDash(x.GetCustomerId()), orDash(x.GetLicenseId()), orDash(x.GetWorkspaceId()), x.GetLine(),
		x.GetUntil().AsTime().UTC().Format("2006-01-02"), ts(x.GetRemovedAt()), orDash(x.GetReason())}
}

func exceptionsAdd(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	var ch changeFlags
	fs.StringVar(&ch.key, "idempotency-key", "", "repeat a failed call with the same key to add the exception at most once (default: a new random key)")
	customer := fs.String("customer", "", "every workspace of this customer (cus_...)")
	license := fs.String("license", "", "the workspace this license was issued to (lic_...)")
	version := fs.String("version", "", "the release line, 7.1 (or a version of it, 7.1.4) (required)")
	until := fs.String("until", "", "the last day (UTC) the exception covers (required)")
	reason := fs.String("reason", "", "why, for the record")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if *until == "" {
		return usageError{"-until is required"}
	}
	u, err := dayFlag("until", *until)
	if err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Versions.AddVersionException(ctx, &signerv1.AddVersionExceptionRequest{
		IdempotencyKey: ch.idempotencyKey(), CustomerId: *customer, LicenseId: *license, Version: *version, Until: u, Reason: *reason,
	})
	if err != nil {
		return err
	}
	return e.print(resp, exceptionHeader, [][]string{exceptionRow(resp.GetException())})
}

func exceptionsList(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	customer := fs.String("customer", "", "only this customer's")
	all := fs.Bool("all", false, "also the removed ones")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Versions.ListVersionExceptions(ctx, &signerv1.ListVersionExceptionsRequest{CustomerId: *customer, IncludeRemoved: *all})
	if err != nil {
		return err
	}
	var rows [][]string
	for _, x := range resp.GetExceptions() {
		rows = append(rows, exceptionRow(x))
	}
	return e.print(resp, exceptionHeader, rows)
}

func exceptionsRemove(ctx context.Context, e *env, args []string) error {
	id, c, err := e.argAndAPI(e.flags(true), args, "the exception's id (vex_...)")
	if err != nil {
		return err
	}
	resp, err := c.Versions.RemoveVersionException(ctx, &signerv1.RemoveVersionExceptionRequest{Id: id})
	if err != nil {
		return err
	}
	return e.print(resp, exceptionHeader, [][]string{exceptionRow(resp.GetException())})
}
