package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
)

// listFlag collects a repeatable or comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// jsonArg is a JSON value given inline or, with a leading @, as a file.
func jsonArg(name, v string) (string, error) {
	if rest, ok := strings.CutPrefix(v, "@"); ok {
		b, err := os.ReadFile(rest)
		if err != nil {
			return "", usageError{fmt.Sprintf("-%s: %v", name, err)}
		}
		return string(b), nil
	}
	return v, nil
}

func announcementsCreate(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	var plans, workspaces, platforms, roles listFlag
	all := fs.Bool("all", false, "for every workspace")
	fs.Var(&plans, "plan", "for the workspaces on this plan (repeatable, or comma-separated)")
	fs.Var(&workspaces, "workspace", "for this workspace (repeatable, or comma-separated)")
	dictionary := fs.String("dictionary", "", `texts by language as JSON, or @FILE (required), e.g. {"en":{"title":"Maintenance"}}`)
	view := fs.String("view", "", "the UiKit view as JSON, or @FILE (required)")
	surface := fs.String("surface", "banner", "banner or modal")
	fs.Var(&platforms, "platform", "web and/or mobile (default web)")
	fs.Var(&roles, "role", "only users with this role see it (repeatable; default everyone)")
	start := fs.String("start", "", "when it starts showing (RFC 3339; default now)")
	expire := fs.String("expire", "", "when it stops showing (RFC 3339, or a duration from now like 72h; required)")
	createdBy := fs.String("created-by", "cloud", "cloud or system")
	key := fs.String("idempotency-key", "", "makes a retried create return the first announcement (default: random)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	req := &syncv1.CreateAnnouncementRequest{PlanIds: plans, WorkspaceIds: workspaces, Platforms: platforms, Roles: roles, CreatedBy: *createdBy}
	chosen := 0
	if *all {
		req.Target, chosen = syncv1.Target_TARGET_ALL, chosen+1
	}
	if len(plans) > 0 {
		req.Target, chosen = syncv1.Target_TARGET_PLANS, chosen+1
	}
	if len(workspaces) > 0 {
		req.Target, chosen = syncv1.Target_TARGET_WORKSPACES, chosen+1
	}
	if chosen != 1 {
		return usageError{"give exactly one of -all, -plan or -workspace"}
	}
	switch *surface {
	case "banner":
		req.Surface = syncv1.Surface_SURFACE_BANNER
	case "modal":
		req.Surface = syncv1.Surface_SURFACE_MODAL
	default:
		return usageError{fmt.Sprintf("-surface must be banner or modal, got %q", *surface)}
	}
	var err error
	if req.DictionaryJson, err = jsonArg("dictionary", *dictionary); err != nil {
		return err
	}
	if req.ViewJson, err = jsonArg("view", *view); err != nil {
		return err
	}
	if *start != "" {
		t, err := time.Parse(time.RFC3339, *start)
		if err != nil {
			return usageError{fmt.Sprintf("-start: not an RFC 3339 time: %q", *start)}
		}
		req.StartAt = timestamppb.New(t)
	}
	if *expire != "" {
		t, err := time.Parse(time.RFC3339, *expire)
		if err != nil {
			d, derr := time.ParseDuration(*expire)
			if derr != nil || d <= 0 {
				return usageError{fmt.Sprintf("-expire: neither an RFC 3339 time nor a positive duration: %q", *expire)}
			}
			t = time.Now().Add(d)
		}
		req.ExpireAt = timestamppb.New(t)
	}
	req.IdempotencyKey = *key
	if req.IdempotencyKey == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		req.IdempotencyKey = hex.EncodeToString(b)
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Announcements.CreateAnnouncement(ctx, req)
	if err != nil {
		return err
	}
	return e.print(resp, announcementHeader, [][]string{announcementRow(resp.GetAnnouncement())})
}

func announcementsWithdraw(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	id, c, err := e.argAndAPI(fs, args, "ANNOUNCEMENT_ID")
	if err != nil {
		return err
	}
	resp, err := c.Announcements.WithdrawAnnouncement(ctx, &syncv1.WithdrawAnnouncementRequest{Id: id})
	if err != nil {
		return err
	}
	return e.print(resp, announcementHeader, [][]string{announcementRow(resp.GetAnnouncement())})
}

func announcementsList(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	all := fs.Bool("all", false, "include withdrawn and expired announcements")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.Announcements.ListAnnouncements(ctx, &syncv1.ListAnnouncementsRequest{IncludeInactive: *all})
	if err != nil {
		return err
	}
	rows := make([][]string, 0, len(resp.GetAnnouncements()))
	for _, a := range resp.GetAnnouncements() {
		rows = append(rows, announcementRow(a))
	}
	return e.print(resp, announcementHeader, rows)
}

var announcementHeader = []string{"ID", "TARGET", "SURFACE", "START", "EXPIRE", "WITHDRAWN"}

func announcementRow(a *syncv1.Announcement) []string {
	target := "all"
	switch a.GetTarget() {
	case syncv1.Target_TARGET_PLANS:
		target = "plans " + strings.Join(a.GetPlanIds(), ",")
	case syncv1.Target_TARGET_WORKSPACES:
		target = "workspaces " + strings.Join(a.GetWorkspaceIds(), ",")
	}
	withdrawn := ""
	if a.GetWithdrawnAt() != nil {
		withdrawn = ts(a.GetWithdrawnAt())
	}
	surface := strings.ToLower(strings.TrimPrefix(a.GetSurface().String(), "SURFACE_"))
	return []string{a.GetId(), target, surface, ts(a.GetStartAt()), ts(a.GetExpireAt()), withdrawn}
}

var _ flag.Value = (*listFlag)(nil)
