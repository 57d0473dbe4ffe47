package main

import (
	"context"
	"errors"
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
	return until(ctx, conn, "the system did not settle after the registrations", func(row pgx.Row) (bool, error) {
		var views, pending int64
		err := row.Scan(&views, &pending)
		return views >= workspaces && pending == 0, err
	}, `SELECT (SELECT count(*) FROM sync.views WHERE license_sequence > 0),
		(SELECT count(*) FROM registry.outbox WHERE published_at IS NULL) + (SELECT count(*) FROM signer.outbox WHERE published_at IS NULL)
		+ (SELECT count(*) FROM tokens.outbox WHERE published_at IS NULL) + (SELECT count(*) FROM sync.outbox WHERE published_at IS NULL)`)
}

// settleLicenses waits until every license the signer issued is applied to
// its workspace's sync view.
func settleLicenses(ctx context.Context, conn *pgx.Conn) error {
	return until(ctx, conn, "the sync views did not catch up with the issued licenses", func(row pgx.Row) (bool, error) {
		var behind int64
		err := row.Scan(&behind)
		return behind == 0, err
	}, `SELECT count(*) FROM (SELECT workspace_id, max(sequence) AS sequence FROM signer.licenses GROUP BY 1) l
		LEFT JOIN sync.views v USING (workspace_id) WHERE coalesce(v.license_sequence, 0) < l.sequence`)
}

// until runs query every 100 ms until done says its row is what it waits
// for, for five minutes at most (then the error says what did not happen).
func until(ctx context.Context, conn *pgx.Conn, never string, done func(pgx.Row) (bool, error), query string) error {
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); {
		ok, err := done(conn.QueryRow(ctx, query))
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New(never)
}
