package events

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/testenv"
)

// TestApplySameMessageTwice drives the consumer's transaction directly, as a
// redelivery would: a first attempt that wrote its effect and failed leaves
// nothing behind, the next applies it, and any later one is a no-op.
func TestApplySameMessageTwice(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, err := pgdb.Open(ctx, testenv.NewDatabase(t), "svc", 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pgdb.Migrate(ctx, pool, "svc", pgdb.Source{Name: "inbox", FS: InboxMigrations()}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "CREATE TABLE effects (msg_id text NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	calls := 0
	failFirst := func(ctx context.Context, tx pgx.Tx, msg Message) error {
		calls++
		if _, err := tx.Exec(ctx, "INSERT INTO effects VALUES ($1)", msg.ID); err != nil {
			return err
		}
		if calls == 1 {
			return errors.New("transient")
		}
		return nil
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := NewConsumer(nil, pool, ConsumerConfig{Durable: "svc"}, failFirst, log)
	msg := Message{ID: "evt-1", Subject: SubjectLicenseIssued, Data: []byte("{}"), Delivered: 1}

	effects := func() int {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM effects").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	steps := []struct {
		name    string
		c       *Consumer
		wantErr bool
		calls   int
		effects int
	}{
		{"first delivery fails", c, true, 1, 0},
		{"redelivery applies", c, false, 2, 1},
		{"third delivery is a no-op", c, false, 2, 1},
		{"another durable applies its own copy", NewConsumer(nil, pool, ConsumerConfig{Durable: "other"}, failFirst, log), false, 3, 2},
	}
	for _, s := range steps {
		err := s.c.apply(ctx, msg)
		if (err != nil) != s.wantErr || calls != s.calls || effects() != s.effects {
			t.Fatalf("%s: err %v, handler calls %d, effects %d; want error %v, %d calls, %d effects",
				s.name, err, calls, effects(), s.wantErr, s.calls, s.effects)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		delivered uint64
		want      time.Duration
	}{
		{0, 100 * time.Millisecond},
		{1, 200 * time.Millisecond},
		{2, 400 * time.Millisecond},
		{8, 25600 * time.Millisecond},
		{9, 25600 * time.Millisecond},
		{1 << 40, 25600 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := backoff(tt.delivered); got != tt.want {
			t.Errorf("backoff(%d) = %s, want %s", tt.delivered, got, tt.want)
		}
	}
}

func TestNewConsumerDefaults(t *testing.T) {
	t.Parallel()
	c := NewConsumer(nil, nil, ConsumerConfig{Durable: "d", Subjects: []string{SubjectLicenseIssued}}, nil, slog.Default())
	if c.cfg.Stream != DefaultStream || c.cfg.AckWait != 30*time.Second || c.cfg.MaxDeliver != -1 {
		t.Errorf("defaults = %+v", c.cfg)
	}
	cc := c.consumerConfig()
	if cc.FilterSubject != SubjectLicenseIssued || cc.FilterSubjects != nil {
		t.Errorf("one subject: FilterSubject %q, FilterSubjects %v", cc.FilterSubject, cc.FilterSubjects)
	}
	two := NewConsumer(nil, nil, ConsumerConfig{Durable: "d", Subjects: []string{SubjectLicenseIssued, SubjectWorkspaceSynced}}, nil, slog.Default())
	if cc := two.consumerConfig(); cc.FilterSubject != "" || len(cc.FilterSubjects) != 2 {
		t.Errorf("two subjects: FilterSubject %q, FilterSubjects %v", cc.FilterSubject, cc.FilterSubjects)
	}
}
