// Package outbox writes events in the same transaction as the state change
// they announce, and relays them to JetStream afterwards. Nothing is published
// that did not commit, and nothing that committed is lost while NATS is away.
package outbox

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/pgdb"
)

//go:embed sql/*.sql
var outboxSQL embed.FS

// Migrations is the outbox table every publishing service keeps.
func Migrations() fs.FS {
	sub, _ := fs.Sub(outboxSQL, "sql")
	return sub
}

// notifyPrefix + schema is the Postgres channel on which a commit wakes the
// relay of that schema (services share one database).
const notifyPrefix = "outbox_"

// Write records e in tx. The relay publishes it once tx commits; a NOTIFY in
// the same transaction wakes the relay without polling delay.
func Write(ctx context.Context, tx pgdb.Querier, e events.Event) error {
	headers, err := json.Marshal(e.Headers(ctx))
	if err != nil {
		return fmt.Errorf("outbox: headers: %w", err)
	}
	if _, err := tx.Exec(ctx,
		`INSERT INTO outbox (subject, payload, headers) VALUES ($1, $2, $3)`,
		e.Subject, e.Payload, headers); err != nil {
		return fmt.Errorf("outbox: write %s: %w", e.Subject, err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1 || current_schema(), '')`, notifyPrefix); err != nil {
		return fmt.Errorf("outbox: notify: %w", err)
	}
	return nil
}
