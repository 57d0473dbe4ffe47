package harness

import (
	"context"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/cloudlicense/authority/pkg/events"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/sync/internal/consumer"
)

// PublishLicenseIssued publishes e as the signer's relay would, under msgID.
func PublishLicenseIssued(t testing.TB, js jetstream.JetStream, msgID string, e *eventsv1.LicenseIssued) {
	t.Helper()
	data, err := proto.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	PublishRaw(t, js, msgID, events.SubjectLicenseIssued, data, e.GetWorkspaceId(), e.GetSequence())
}

// PublishLicenseWithdrawn publishes e as the signer's relay would, under
// msgID.
func PublishLicenseWithdrawn(t testing.TB, js jetstream.JetStream, msgID string, e *eventsv1.LicenseWithdrawn) {
	t.Helper()
	data, err := proto.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	PublishRaw(t, js, msgID, events.SubjectLicenseWithdrawn, data, e.GetWorkspaceId(), e.GetSequence())
}

// PublishRaw publishes data on subject with the event envelope headers.
func PublishRaw(t testing.TB, js jetstream.JetStream, msgID, subject string, data []byte, aggregateID string, seq int64) {
	t.Helper()
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(events.HeaderAggregateID, aggregateID)
	msg.Header.Set(events.HeaderAggregateSeq, strconv.FormatInt(seq, 10))
	if _, err := js.PublishMsg(t.Context(), msg, jetstream.WithMsgID(msgID)); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
}

// WaitConsumed waits until the sync consumer has committed msgID, whether or
// not it changed anything: its inbox row commits with the effect.
func WaitConsumed(t testing.TB, pool *pgxpool.Pool, msgID string) {
	t.Helper()
	Eventually(t, "message "+msgID+" consumed", func() (bool, error) {
		var done bool
		err := pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM inbox WHERE msg_id = $1)`,
			consumer.Durable+":"+msgID).Scan(&done)
		return done, err
	})
}
