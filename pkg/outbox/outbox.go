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

// Write records e in tx. The relay publishes it once tx commits.
//
// There is deliberately no NOTIFY here: Postgres serialises the commits of
// all transactions that notify under one database-wide lock, which would
// queue every service's writes behind each other. The relay polls instead.
func Write(ctx context.Context, tx pgdb.Querier, e events.Event) error {
	r, err := NewRow(ctx, e)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, Insert+` VALUES ($1, $2, $3)`, r.Subject, r.Payload, r.Headers); err != nil {
		return fmt.Errorf("outbox: write %s: %w", e.Subject, err)
	}
	return nil
}

// Insert starts the statement that adds outbox rows, for a hot path that
// writes its row inside a larger statement (... SELECT $n, $m, $k WHERE ...)
// instead of calling Write.
const Insert = `INSERT INTO outbox (subject, payload, headers)`

// Row is the values of one outbox row, in Insert's column order.
type Row struct {
	Subject string
	Payload []byte
	Headers []byte
}

// NewRow returns the row for e, with the trace context of ctx.
func NewRow(ctx context.Context, e events.Event) (Row, error) {
	headers, err := json.Marshal(e.Headers(ctx))
	if err != nil {
		return Row{}, fmt.Errorf("outbox: headers: %w", err)
	}
	return Row{Subject: e.Subject, Payload: e.Payload, Headers: headers}, nil
}
