// Package events holds the envelope every licensing event travels in (subjects,
// headers, the JetStream stream) and the durable, idempotent consumer that
// services use to react to each other's events.
package events

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// Subjects, versioned: licensing.<aggregate>.<event>.v1.
const (
	SubjectWorkspaceRegistered = "licensing.workspace.registered.v1"
	SubjectWorkspaceSynced     = "licensing.workspace.synced.v1"
	SubjectCredentialsIssued   = "licensing.credentials.issued.v1"
	SubjectLicenseIssued       = "licensing.license.issued.v1"
	// SubjectWorkspaceDeregistered tells consumers an internal client
	// deregistered a workspace (its credentials are revoked).
	SubjectWorkspaceDeregistered = "licensing.workspace.deregistered.v1"
	// SubjectLicenseWithdrawn tells consumers a workspace must drop its
	// license (a suspension); it takes the workspace's next license sequence.
	SubjectLicenseWithdrawn = "licensing.license.withdrawn.v1"
	// SubjectLicenseAll matches every license event, for a consumer that
	// must see them in one ordered stream (one filter subject also works on
	// servers before 2.10).
	SubjectLicenseAll = "licensing.license.>"
	// SubjectKeysetChanged tells verifiers (and the issuance log) that the
	// license signing keyset changed: a rotation, an import, a revocation.
	SubjectKeysetChanged = "licensing.keyset.changed.v1"
)

// Subjects of registration by e-mail confirmation and of deregistration.
const (
	// SubjectCredentialsRevoked: a workspace's credentials were revoked
	// (deregistration).
	SubjectCredentialsRevoked = "licensing.credentials.revoked.v1"
	// SubjectRegistrationIntentCreated and SubjectRegistrationIntentResent
	// ask the registry's mailer to send an intent's confirmation e-mail.
	SubjectRegistrationIntentCreated = "licensing.registration.intent_created.v1"
	SubjectRegistrationIntentResent  = "licensing.registration.intent_resent.v1"
)

// SubjectSupportedVersionsChanged: a release, the version policy or a
// version exception changed in the signer. Services that enforce the policy
// from memory reload it; every replica hears it (a plain subscription, not a
// durable consumer, since each holds its own copy).
const SubjectSupportedVersionsChanged = "licensing.supportedversions.changed.v1"

// Headers carried by every event besides the W3C trace context.
const (
	HeaderAggregateID  = "Licensing-Aggregate-Id"
	HeaderAggregateSeq = "Licensing-Aggregate-Seq"
)

// DefaultStream is the one stream for all licensing subjects.
const DefaultStream = "LICENSING"

//go:embed sql/*.sql
var inboxSQL embed.FS

// InboxMigrations is the inbox table every consuming service keeps.
func InboxMigrations() fs.FS {
	sub, _ := fs.Sub(inboxSQL, "sql")
	return sub
}

// StreamConfig says how the licensing stream is declared.
type StreamConfig struct {
	Name     string
	Replicas int
	// Duplicates is the window in which JetStream drops a republished
	// message with a Nats-Msg-Id it has already stored.
	Duplicates time.Duration
	MaxAge     time.Duration
}

// EnsureStream declares (or updates) the licensing stream: file storage, all
// licensing.> subjects.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (jetstream.Stream, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultStream
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Duplicates <= 0 {
		cfg.Duplicates = 10 * time.Minute
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 7 * 24 * time.Hour
	}
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       cfg.Name,
		Subjects:   []string{"licensing.>"},
		Storage:    jetstream.FileStorage,
		Replicas:   cfg.Replicas,
		Duplicates: cfg.Duplicates,
		MaxAge:     cfg.MaxAge,
		Retention:  jetstream.LimitsPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("events: declare stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// Connect dials NATS with reconnects that never give up, since the outbox and
// the consumers are built to ride out an outage.
func Connect(url, name string) (*nats.Conn, error) {
	nc, err := nats.Connect(url,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true),
	)
	if err != nil {
		return nil, fmt.Errorf("events: connect to NATS: %w", err)
	}
	return nc, nil
}

// Event is what a service hands to the outbox.
type Event struct {
	Subject     string
	AggregateID string
	// Sequence is the aggregate's own event counter, so consumers can apply in
	// order and spot gaps. An aggregate is named by the subject's aggregate
	// segment and AggregateID together: licensing.credentials.* and
	// licensing.workspace.* about one workspace are two aggregates with
	// sequences of their own.
	Sequence int64
	Payload  []byte
}

// Headers returns the envelope headers of e with the trace context of ctx.
func (e Event) Headers(ctx context.Context) map[string]string {
	h := map[string]string{HeaderAggregateID: e.AggregateID}
	if e.Sequence > 0 {
		h[HeaderAggregateSeq] = strconv.FormatInt(e.Sequence, 10)
	}
	otel.GetTextMapPropagator().Inject(ctx, propagation.MapCarrier(h))
	return h
}

// ErrPoison marks a message that can never be applied (it does not decode, or
// it names something impossible); the consumer terminates it instead of
// redelivering it forever.
var ErrPoison = errors.New("events: poison message")

// Poison wraps err as ErrPoison.
func Poison(err error) error { return fmt.Errorf("%w: %w", ErrPoison, err) }
