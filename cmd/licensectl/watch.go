package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cloudlicense/authority/pkg/client"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
)

// watchViews prints the views a filter selects, then each change as it
// comes, until interrupted; the client reconnects and resumes by itself.
func watchViews(ctx context.Context, e *env, args []string) error {
	fs := e.flags(true)
	var workspaces, labels listFlag
	customer := fs.String("customer", "", "only this customer's workspaces")
	fs.Var(&workspaces, "workspace", "only this workspace (repeatable, or comma-separated)")
	fs.Var(&labels, "label", "only workspaces with this label, KEY=VALUE: plan, trial, support, remove-license (repeatable)")
	from := fs.Int64("from-revision", 0, "resume after this revision instead of listing first")
	bookmarks := fs.Bool("bookmarks", false, "print bookmarks too")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"watch takes no argument: " + strings.Join(fs.Args(), " ")}
	}
	req := &syncv1.WatchRequest{CustomerId: *customer, WorkspaceIds: workspaces, ResumeRevision: *from}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return usageError{fmt.Sprintf("-label %q: want KEY=VALUE", l)}
		}
		if req.Labels == nil {
			req.Labels = map[string]string{}
		}
		req.Labels[k] = v
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	if e.output == "table" {
		fmt.Fprintf(e.stdout, "%-9s %9s  %-28s %-28s %7s %-7s %-12s %s\n", "EVENT", "REVISION", "WORKSPACE", "CUSTOMER", "LICENSE", "REMOVE", "PLAN", "UPDATED")
	}
	err = c.Watch(ctx, req, func(ev *syncv1.WatchResponse) error {
		if ev.GetType() == syncv1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK && !*bookmarks {
			return nil
		}
		return e.printEvent(ev)
	}, client.WatchOptions{OnRetry: func(err error, wait time.Duration) {
		fmt.Fprintf(e.stderr, "licensectl: watch interrupted (%s); resuming in %s\n", describe(err), wait.Round(time.Millisecond))
	}})
	if ctx.Err() != nil {
		return nil // interrupted by the user
	}
	return err
}

// printEvent writes one event as a JSON line or a table row.
func (e *env) printEvent(ev *syncv1.WatchResponse) error {
	if e.output == "json" {
		b, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(ev)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(e.stdout, string(b))
		return err
	}
	kind := strings.ToLower(strings.TrimPrefix(ev.GetType().String(), "WATCH_EVENT_TYPE_"))
	v := ev.GetView()
	if v == nil {
		_, err := fmt.Fprintf(e.stdout, "%-9s %9d\n", kind, ev.GetRevision())
		return err
	}
	_, err := fmt.Fprintf(e.stdout, "%-9s %9d  %-28s %-28s %7d %-7t %-12s %s\n", kind, ev.GetRevision(), v.GetWorkspaceId(),
		orDash(ev.GetCustomerId()), v.GetLicenseSequence(), v.GetRemoveLicense(), orDash(ev.GetLabels()["plan"]), ts(v.GetUpdatedAt()))
	return err
}
