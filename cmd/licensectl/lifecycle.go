package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
)

// changeFlags holds the flags every subscription change shares.
type changeFlags struct {
	customer string
	key      string
}

func (c *changeFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.customer, "customer", "", "refuse unless the workspace belongs to this customer")
	fs.StringVar(&c.key, "idempotency-key", "", "the change's idempotency key; repeat a failed call with the same key to apply it at most once (default: a new random key)")
}

// idempotencyKey returns the key to send.
func (c *changeFlags) idempotencyKey() string {
	if c.key != "" {
		return c.key
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "cli-" + hex.EncodeToString(b)
}

// limitFlags are a grant's seats and limit overrides; only flags given on the
// command line are sent.
type limitFlags struct {
	seats, guests, mac, privateApps, marketplaceApps int64
}

func (l *limitFlags) flags(fs *flag.FlagSet) {
	fs.Int64Var(&l.seats, "seats", 0, "active users (seats)")
	fs.Int64Var(&l.guests, "guests", 0, "guest users limit")
	fs.Int64Var(&l.mac, "mac", 0, "monthly active omnichannel contacts limit")
	fs.Int64Var(&l.privateApps, "private-apps", 0, "private apps limit")
	fs.Int64Var(&l.marketplaceApps, "marketplace-apps", 0, "marketplace apps limit")
}

// read returns the seats and overrides given (nil when not given).
func (l *limitFlags) read(set map[string]bool) (*int64, *signerv1.LimitOverrides) {
	opt := func(name string, v int64) *int64 {
		if !set[name] {
			return nil
		}
		return &v
	}
	o := &signerv1.LimitOverrides{
		GuestUsers: opt("guests", l.guests), MonthlyActiveContacts: opt("mac", l.mac),
		PrivateApps: opt("private-apps", l.privateApps), MarketplaceApps: opt("marketplace-apps", l.marketplaceApps),
	}
	return opt("seats", l.seats), o
}

// paidTerms are the flags a paid grant and a trial's conversion share.
type paidTerms struct {
	limits    limitFlags
	end       *string
	autoRenew *bool
	method    *string
	seller    *string
}

func (p *paidTerms) flags(fs *flag.FlagSet, endHelp, autoRenewHelp string) {
	p.limits.flags(fs)
	p.end = fs.String("end", "", endHelp)
	p.autoRenew = fs.Bool("auto-renew", false, autoRenewHelp)
	p.method = fs.String("method", "", "grant method: manual (default), self-service, sales, support or reseller")
	p.seller = fs.String("seller", "", "who sold it")
}

// paidTermValues are paidTerms as request fields; a flag not given on the
// command line stays nil, so the server keeps its default.
type paidTermValues struct {
	seats     *int64
	limits    *signerv1.LimitOverrides
	autoRenew *bool
	end       *timestamppb.Timestamp
	method    signerv1.GrantMethod
}

func (p *paidTerms) read(set map[string]bool) (paidTermValues, error) {
	var v paidTermValues
	var err error
	v.seats, v.limits = p.limits.read(set)
	if set["auto-renew"] {
		v.autoRenew = p.autoRenew
	}
	if v.end, err = dayFlag("end", *p.end); err != nil {
		return v, err
	}
	v.method, err = grantMethod(*p.method)
	return v, err
}

func flagsSet(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// day parses a date ("2026-03-31", the whole UTC day) or an RFC 3339 time.
func dayFlag(name, v string) (*timestamppb.Timestamp, error) {
	if v == "" {
		return nil, nil
	}
	for _, layout := range []string{"2006-01-02", time.RFC3339} {
		if t, err := time.Parse(layout, v); err == nil {
			return timestamppb.New(t), nil
		}
	}
	return nil, usageError{fmt.Sprintf("-%s: %q is neither a date (2006-01-02) nor an RFC 3339 time", name, v)}
}

var grantMethods = map[string]signerv1.GrantMethod{
	"":             signerv1.GrantMethod_GRANT_METHOD_UNSPECIFIED,
	"manual":       signerv1.GrantMethod_GRANT_METHOD_MANUAL,
	"self-service": signerv1.GrantMethod_GRANT_METHOD_SELF_SERVICE,
	"sales":        signerv1.GrantMethod_GRANT_METHOD_SALES,
	"support":      signerv1.GrantMethod_GRANT_METHOD_SUPPORT,
	"reseller":     signerv1.GrantMethod_GRANT_METHOD_RESELLER,
}

func grantMethod(v string) (signerv1.GrantMethod, error) {
	m, ok := grantMethods[v]
	if !ok {
		return 0, usageError{fmt.Sprintf("-method: %q is not manual, self-service, sales, support or reseller", v)}
	}
	return m, nil
}

func subscriptionState(s signerv1.SubscriptionState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "SUBSCRIPTION_STATE_"))
}

func grantMethodName(m signerv1.GrantMethod) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(m.String(), "GRANT_METHOD_")), "_", "-")
}

var changeHeader = []string{"WORKSPACE", "STATE", "PLAN", "SEATS", "PERIOD END", "AUTO-RENEW", "LICENSE SEQ", "LICENSE"}

// printChange shows a subscription and the license the change issued.
func printChange(e *env, resp proto.Message, s *signerv1.Subscription, l *signerv1.License, seq int64) error {
	if l != nil {
		seq = l.GetSequence()
	}
	seats := "plan"
	if s.GetSeats() > 0 {
		seats = strconv.FormatInt(s.GetSeats(), 10)
	}
	return e.print(resp, changeHeader, [][]string{{
		s.GetWorkspaceId(), subscriptionState(s.GetState()), fmt.Sprintf("%s v%d", s.GetPlanId(), s.GetPlanVersion()), seats,
		ts(s.GetPeriodEnd()), strconv.FormatBool(s.GetAutoRenew() && !s.GetCancelAtPeriodEnd()), strconv.FormatInt(seq, 10), orDash(l.GetId()),
	}})
}

// parseMixed parses flags given before or after the positional arguments
// (licensectl trial start WS -plan pro), checks the output flag, and returns
// the positional arguments.
func parseMixed(e *env, fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if e.output != "" && e.output != "table" && e.output != "json" {
		return nil, usageError{fmt.Sprintf("-o must be table or json, not %q", e.output)}
	}
	return positional, nil
}

// workspaceArg parses the flags and returns the one workspace id argument.
func workspaceArg(e *env, fs *flag.FlagSet, args []string) (string, error) {
	rest, err := parseMixed(e, fs, args)
	if err != nil {
		return "", err
	}
	return oneArg(rest, "WORKSPACE_ID")
}

func subscriptionsGrant(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	var ch changeFlags
	ch.flags(fs)
	var terms paidTerms
	terms.flags(fs, "last paid day (default: the plan's term from the start, or the current end on the same plan)",
		"renew automatically (default: the plan's, or the current setting)")
	plan := fs.String("plan", "", "plan id (required)")
	start := fs.String("start", "", "period start (date or RFC 3339; default now, or the current start on the same plan)")
	ws, err := workspaceArg(e, fs, args)
	if err != nil {
		return err
	}
	t, err := terms.read(flagsSet(fs))
	if err != nil {
		return err
	}
	req := &signerv1.GrantSubscriptionRequest{IdempotencyKey: ch.idempotencyKey(), WorkspaceId: ws, CustomerId: ch.customer, PlanId: *plan,
		Seller: *terms.seller, Seats: t.seats, Limits: t.limits, AutoRenew: t.autoRenew, PeriodEnd: t.end, GrantMethod: t.method}
	if req.PeriodStart, err = dayFlag("start", *start); err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Subscriptions.GrantSubscription(ctx, req)
	if err != nil {
		return err
	}
	return printChange(e, resp, resp.GetSubscription(), resp.GetLicense(), 0)
}

func subscriptionsRenew(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	var ch changeFlags
	ch.flags(fs)
	end := fs.String("end", "", "new last paid day (default: the plan's term after the current end)")
	ws, err := workspaceArg(e, fs, args)
	if err != nil {
		return err
	}
	req := &signerv1.RenewSubscriptionRequest{IdempotencyKey: ch.idempotencyKey(), WorkspaceId: ws, CustomerId: ch.customer}
	if req.PeriodEnd, err = dayFlag("end", *end); err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Subscriptions.RenewSubscription(ctx, req)
	if err != nil {
		return err
	}
	return printChange(e, resp, resp.GetSubscription(), resp.GetLicense(), 0)
}

func subscriptionsCancel(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	var ch changeFlags
	ch.flags(fs)
	atEnd := fs.Bool("at-period-end", false, "cancel when the paid period ends instead of now")
	ws, err := workspaceArg(e, fs, args)
	if err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Subscriptions.CancelSubscription(ctx, &signerv1.CancelSubscriptionRequest{
		IdempotencyKey: ch.idempotencyKey(), WorkspaceId: ws, CustomerId: ch.customer, AtPeriodEnd: *atEnd,
	})
	if err != nil {
		return err
	}
	return printChange(e, resp, resp.GetSubscription(), resp.GetLicense(), 0)
}

func subscriptionsSuspend(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	var ch changeFlags
	ch.flags(fs)
	reason := fs.String("reason", "", "why (kept with the subscription)")
	ws, err := workspaceArg(e, fs, args)
	if err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Subscriptions.SuspendSubscription(ctx, &signerv1.SuspendSubscriptionRequest{
		IdempotencyKey: ch.idempotencyKey(), WorkspaceId: ws, CustomerId: ch.customer, Reason: *reason,
	})
	if err != nil {
		return err
	}
	return printChange(e, resp, resp.GetSubscription(), nil, resp.GetWithdrawnSequence())
}

func subscriptionsReinstate(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	var ch changeFlags
	ch.flags(fs)
	ws, err := workspaceArg(e, fs, args)
	if err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Subscriptions.ReinstateSubscription(ctx, &signerv1.ReinstateSubscriptionRequest{
		IdempotencyKey: ch.idempotencyKey(), WorkspaceId: ws, CustomerId: ch.customer,
	})
	if err != nil {
		return err
	}
	return printChange(e, resp, resp.GetSubscription(), resp.GetLicense(), 0)
}

func trialStart(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	var ch changeFlags
	ch.flags(fs)
	plan := fs.String("plan", "", "plan to try, e.g. pro or enterprise (required)")
	days := fs.Int("days", 0, "trial length in days (default: the plan's, 30 unless it says otherwise)")
	override := fs.Bool("override", false, "allow a second trial of the same plan (support and admin keys only)")
	how := fs.String("method", "", "grant method (default self-service)")
	ws, err := workspaceArg(e, fs, args)
	if err != nil {
		return err
	}
	m, err := grantMethod(*how)
	if err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Subscriptions.StartTrial(ctx, &signerv1.StartTrialRequest{
		IdempotencyKey: ch.idempotencyKey(), WorkspaceId: ws, CustomerId: ch.customer, PlanId: *plan, Days: int32(*days), SupportOverride: *override, GrantMethod: m,
	})
	if err != nil {
		return err
	}
	return printChange(e, resp, resp.GetSubscription(), resp.GetLicense(), 0)
}

func trialExtend(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	var ch changeFlags
	ch.flags(fs)
	days := fs.Int("days", 0, "days to add to the trial's end")
	until := fs.String("until", "", "or: the new last trial day")
	ws, err := workspaceArg(e, fs, args)
	if err != nil {
		return err
	}
	req := &signerv1.ExtendTrialRequest{IdempotencyKey: ch.idempotencyKey(), WorkspaceId: ws, CustomerId: ch.customer, Days: int32(*days)}
	if req.Until, err = dayFlag("until", *until); err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Subscriptions.ExtendTrial(ctx, req)
	if err != nil {
		return err
	}
	return printChange(e, resp, resp.GetSubscription(), resp.GetLicense(), 0)
}

func trialConvert(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	var ch changeFlags
	ch.flags(fs)
	var terms paidTerms
	terms.flags(fs, "last paid day (default: the plan's term from now)", "renew automatically (default: the plan's)")
	ws, err := workspaceArg(e, fs, args)
	if err != nil {
		return err
	}
	t, err := terms.read(flagsSet(fs))
	if err != nil {
		return err
	}
	req := &signerv1.ConvertTrialRequest{IdempotencyKey: ch.idempotencyKey(), WorkspaceId: ws, CustomerId: ch.customer,
		Seller: *terms.seller, Seats: t.seats, Limits: t.limits, AutoRenew: t.autoRenew, PeriodEnd: t.end, GrantMethod: t.method}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Subscriptions.ConvertTrial(ctx, req)
	if err != nil {
		return err
	}
	return printChange(e, resp, resp.GetSubscription(), resp.GetLicense(), 0)
}

// subscriptionsGet shows a workspace's whole entitlement.
func subscriptionsGet(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	customer := fs.String("customer", "", "refuse unless the workspace belongs to this customer")
	ws, err := workspaceArg(e, fs, args)
	if err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Subscriptions.GetEntitlement(ctx, &signerv1.GetEntitlementRequest{WorkspaceId: ws, CustomerId: *customer})
	if err != nil {
		return err
	}
	en := resp.GetEntitlement()
	s := en.GetSubscription()
	var limits, periods []string
	for _, l := range en.GetLimits() {
		limits = append(limits, fmt.Sprintf("%s=%d (%s)", l.GetKind(), l.GetMax(), l.GetBehavior()))
	}
	for _, p := range en.GetValidPeriods() {
		b := p.GetInvalidBehavior()
		if len(p.GetModules()) > 0 {
			b += " of " + strings.Join(p.GetModules(), ", ")
		}
		periods = append(periods, ts(p.GetValidUntil())+": "+b)
	}
	st := subscriptionState(s.GetState())
	if s.GetState() == signerv1.SubscriptionState_SUBSCRIPTION_STATE_SUSPENDED {
		st += fmt.Sprintf(" (was %s: %s)", subscriptionState(s.GetSuspendedState()), orDash(s.GetSuspendReason()))
	}
	if s.GetCancelAtPeriodEnd() {
		st += " (cancelled at the period end)"
	}
	sup := en.GetSupport()
	rows := [][]string{
		{"workspace", s.GetWorkspaceId()},
		{"customer", orDash(s.GetCustomerId())},
		{"state", st},
		{"plan", fmt.Sprintf("%s (%s, version %d)", en.GetPlanName(), s.GetPlanId(), s.GetPlanVersion())},
		{"trial", strconv.FormatBool(en.GetTrial())},
		{"period", ts(s.GetPeriodStart()) + " to " + ts(s.GetPeriodEnd())},
		{"auto-renew", strconv.FormatBool(s.GetAutoRenew())},
		{"granted by", grantMethodName(s.GetGrantMethod()) + sellerSuffix(s.GetSeller())},
		{"lapses at", ts(s.GetLapsesAt())},
		{"modules", orDash(strings.Join(en.GetModules(), ", "))},
		{"limits", orDash(strings.Join(limits, ", "))},
		{"at the end", orDash(strings.Join(periods, "; "))},
		{"warn admins", ts(en.GetNotifyAdminsAt())},
		{"warn users", ts(en.GetNotifyUsersAt())},
		{"support", fmt.Sprintf("%s, %s, first response high %dh / medium %dh / low %dh", sup.GetPlan(), sup.GetCoverage(),
			sup.GetHighFirstResponseHours(), sup.GetMediumFirstResponseHours(), sup.GetLowFirstResponseHours())},
		{"license", fmt.Sprintf("sequence %d %s", en.GetLicenseSequence(), orDash(en.GetLicenseId()))},
	}
	return e.print(resp, []string{"FIELD", "VALUE"}, rows)
}

func sellerSuffix(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// history lists a workspace's licenses, newest first.
func licenseHistory(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	ws, err := workspaceArg(e, fs, args)
	if err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Signer.ListLicenses(ctx, &signerv1.ListLicensesRequest{WorkspaceId: ws})
	if err != nil {
		return err
	}
	var rows [][]string
	for _, l := range resp.GetLicenses() {
		var flags []string
		if l.GetTrial() {
			flags = append(flags, "trial")
		}
		if l.GetOffline() {
			flags = append(flags, "offline")
		}
		rows = append(rows, []string{strconv.FormatInt(l.GetSequence(), 10), l.GetId(), fmt.Sprintf("%s v%d", l.GetPlanId(), l.GetPlanVersion()),
			orDash(strings.Join(flags, ",")), orDash(l.GetAddress()), ts(l.GetIssuedAt()), ts(l.GetExpiresAt())})
	}
	return e.print(resp, []string{"SEQ", "ID", "PLAN", "FLAGS", "ADDRESS", "ISSUED", "EXPIRES"}, rows)
}
