package domain_test

import (
	"crypto/rand"
	"encoding/base64"
	"regexp"
	"testing"
	"time"

	"github.com/cloudlicense/authority/services/registry/internal/domain"
)

func TestIntentPoll(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { at := now.Add(-d); return &at }
	interval := 5 * time.Second
	cases := []struct {
		name   string
		intent domain.Intent
		want   domain.PollStatus
	}{
		{"first poll", domain.Intent{State: domain.IntentPending, ExpiresAt: now.Add(time.Minute)}, domain.PollPending},
		{"on time", domain.Intent{State: domain.IntentPending, ExpiresAt: now.Add(time.Minute), LastPolledAt: ago(5 * time.Second)}, domain.PollPending},
		{"a little early", domain.Intent{State: domain.IntentPending, ExpiresAt: now.Add(time.Minute), LastPolledAt: ago(4500 * time.Millisecond)}, domain.PollPending},
		{"too fast", domain.Intent{State: domain.IntentPending, ExpiresAt: now.Add(time.Minute), LastPolledAt: ago(time.Second)}, domain.PollSlowDown},
		{"expired", domain.Intent{State: domain.IntentPending, ExpiresAt: now}, domain.PollExpired},
		{"rejected", domain.Intent{State: domain.IntentRejected, ExpiresAt: now.Add(time.Minute)}, domain.PollRejected},
		{"confirmed", domain.Intent{State: domain.IntentConfirmed, ExpiresAt: now.Add(time.Minute), ClientSecretSealed: []byte{1}}, domain.PollConfirmed},
		{"confirmed, secret erased", domain.Intent{State: domain.IntentConfirmed, ExpiresAt: now.Add(time.Minute)}, domain.PollExpired},
		{"confirmed, expired", domain.Intent{State: domain.IntentConfirmed, ExpiresAt: now, ClientSecretSealed: []byte{1}}, domain.PollExpired},
	}
	for _, c := range cases {
		if got := c.intent.PollAt(now, interval); got != c.want {
			t.Errorf("%s: PollAt = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestCodes(t *testing.T) {
	t.Parallel()
	if c := domain.NewUserCode(); !regexp.MustCompile(`^[A-Z2-9]{4}-[A-Z2-9]{4}$`).MatchString(c) {
		t.Errorf("user code %q", c)
	}
	if a, b := domain.NewDeviceCode(), domain.NewDeviceCode(); a == b || len(a) < 40 {
		t.Errorf("device codes %q %q", a, b)
	}
}

func TestSealer(t *testing.T) {
	t.Parallel()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s, err := domain.NewSealer(base64.StdEncoding.EncodeToString(key))
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal("int_1", "cs_secret")
	if got, err := s.Open("int_1", sealed); err != nil || got != "cs_secret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open("int_2", sealed); err == nil {
		t.Fatal("a sealed value opened for another intent")
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(key[:16])} {
		if _, err := domain.NewSealer(bad); err == nil {
			t.Errorf("NewSealer(%q) accepted", bad)
		}
	}
}
