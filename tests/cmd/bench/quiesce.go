package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

// quiesce waits until every registered workspace has its license in a sync
// view and no outbox holds unpublished events.
func quiesce(ctx context.Context, dbURL string, workspaces int64) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	fmt.Fprintf(os.Stderr, "bench: waiting for the %d registrations' licenses to settle ...\n", workspaces)
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		var views, pending int64
		err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM sync.views WHERE license_sequence > 0),
			(SELECT count(*) FROM registry.outbox WHERE published_at IS NULL) + (SELECT count(*) FROM signer.outbox WHERE published_at IS NULL)
			+ (SELECT count(*) FROM tokens.outbox WHERE published_at IS NULL) + (SELECT count(*) FROM sync.outbox WHERE published_at IS NULL)`).Scan(&views, &pending)
		if err != nil {
			return err
		}
		if views >= workspaces && pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("the system did not settle after the registrations")
}

// settleLicenses waits until every license the signer issued is applied to
// its workspace's sync view.
func settleLicenses(ctx context.Context, conn *pgx.Conn) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		var behind int64
		err := conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT workspace_id, max(sequence) AS sequence FROM signer.licenses GROUP BY 1) l
			LEFT JOIN sync.views v USING (workspace_id) WHERE coalesce(v.license_sequence, 0) < l.sequence`).Scan(&behind)
		if err != nil {
			return err
		}
		if behind == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("the sync views did not catch up with the issued licenses")
}
