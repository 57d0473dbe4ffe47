package httpapi

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// The bucket refills at its rate, never beyond its size, and the figures the
// headers carry follow from its level.
func TestLimiterBucket(t *testing.T) {
	t.Parallel()
	l := newLimiter(2, 4) // 2 tokens a second, 4 at most
	now := time.Unix(1_700_000_000, 0)
	for i := range 4 {
		d := l.allow("k", now)
		if !d.allowed || d.remaining != 3-i || d.limit != 4 {
			t.Fatalf("request %d: %+v, want allowed with %d remaining of 4", i+1, d, 3-i)
		}
	}
	d := l.allow("k", now)
	if d.allowed || d.remaining != 0 || d.retry != 500*time.Millisecond || d.reset != 2*time.Second {
		t.Fatalf("fifth request: %+v, want refused, next token in 500ms, full in 2s", d)
	}
	// Half a second later one token is back.
	if d := l.allow("k", now.Add(500*time.Millisecond)); !d.allowed || d.remaining != 0 {
		t.Fatalf("after 500ms: %+v, want allowed with 0 remaining", d)
	}
	// An hour later the bucket holds its size, not 7200 tokens.
	if d := l.allow("k", now.Add(time.Hour)); !d.allowed || d.remaining != 3 || d.reset != 500*time.Millisecond {
		t.Fatalf("after an hour: %+v, want 3 remaining, full in 500ms", d)
	}
	// Another key has its own bucket.
	if d := l.allow("other", now); !d.allowed || d.remaining != 3 {
		t.Fatalf("another key: %+v", d)
	}
	if newLimiter(0, 10) != nil {
		t.Fatal("a rate of 0 must turn the limiter off")
	}
}

// Idle buckets are dropped, so a stream of one-off client addresses cannot
// grow the map without bound.
func TestLimiterSweepsIdleBuckets(t *testing.T) {
	t.Parallel()
	l := newLimiter(1, 1)
	now := time.Unix(1_700_000_000, 0)
	for i := range 1000 {
		l.allow(fmt.Sprint("client-", i), now)
	}
	later := now.Add(idleBucket + 2*time.Minute)
	for i := range limiterShards {
		// One request per shard triggers its sweep.
		for k := 0; ; k++ {
			key := fmt.Sprint("probe-", k)
			if int(shardOf(l, key)) == i {
				l.allow(key, later)
				break
			}
		}
	}
	total := 0
	for i := range l.shards {
		total += len(l.shards[i].buckets)
	}
	if total != limiterShards {
		t.Fatalf("%d buckets after the sweep, want only the %d probes", total, limiterShards)
	}
}

func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", " 192.0.2.1 ", "", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		t       TrustedProxies
		remote  string
		forward []string
		want    string
	}{
		{"no proxies configured: the header is ignored", TrustedProxies{}, "10.1.2.3:5000", []string{"203.0.113.9"}, "10.1.2.3"},
		{"untrusted peer: the header is ignored", trusted, "198.51.100.4:5000", []string{"203.0.113.9"}, "198.51.100.4"},
		{"trusted peer: the client it forwarded", trusted, "10.1.2.3:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"a chain of proxies: the nearest untrusted hop", trusted, "10.1.2.3:5000", []string{"6.6.6.6, 203.0.113.9, 10.9.9.9"}, "203.0.113.9"},
		{"several header lines read as one list", trusted, "[::1]:5000", []string{"6.6.6.6", "203.0.113.9, 192.0.2.1"}, "203.0.113.9"},
		{"a forged entry left of the real client is not believed", trusted, "10.1.2.3:5000", []string{"10.0.0.1, 203.0.113.9"}, "203.0.113.9"},
		{"garbage ends the walk at the hop that forwarded it", trusted, "10.1.2.3:5000", []string{"203.0.113.9, not-an-ip, 10.9.9.9"}, "10.9.9.9"},
		{"no header from a trusted peer: the peer", trusted, "10.1.2.3:5000", nil, "10.1.2.3"},
		{"only proxies in the chain: the farthest", trusted, "10.1.2.3:5000", []string{"10.5.5.5, 10.6.6.6"}, "10.5.5.5"},
		{"IPv4-mapped IPv6 peer", trusted, "[::ffff:10.1.2.3]:5000", []string{"203.0.113.9"}, "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.remote, Header: http.Header{}}
			for _, v := range tt.forward {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tt.t.clientAddress(r); got != tt.want {
				t.Fatalf("client address %q, want %q", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0"} {
		if _, err := ParseTrustedProxies([]string{"10.0.0.0/8", bad}); err == nil {
			t.Errorf("%q accepted as a trusted proxy", bad)
		}
	}
}
