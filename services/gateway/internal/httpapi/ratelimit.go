package httpapi

import (
	"context"
	"hash/maphash"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// limiter is a token bucket per key (a client address or a workspace id),
// held in memory by this gateway replica: limits are per replica, so N
// replicas let a client through at up to N times the rate. That keeps the hot
// path free of any database or network round trip. The map is split in shards
// so concurrent requests for different keys rarely wait on one lock, and idle
// buckets are swept so the map cannot grow without bound.
type limiter struct {
	rate   float64 // tokens per second
	burst  float64
	seed   maphash.Seed
	shards [limiterShards]limiterShard
}

const (
	limiterShards = 32
	// idleBucket is how long a bucket may go unused before it is dropped;
	// a dropped bucket comes back full, which it would be by then anyway
	// for any rate above burst/idleBucket.
	idleBucket = 5 * time.Minute
)

type limiterShard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// decision is one request's outcome, with what the standard rate-limit
// headers report.
type decision struct {
	allowed   bool
	limit     int           // the bucket's size
	remaining int           // whole tokens left after this request
	reset     time.Duration // until the bucket is full again
	retry     time.Duration // until the next token, when refused
}

func newLimiter(perSecond float64, burst int) *limiter {
	if perSecond <= 0 {
		return nil
	}
	l := &limiter{rate: perSecond, burst: float64(max(burst, 1)), seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].buckets = map[string]*bucket{}
	}
	return l
}

// allow takes a token for key at now, or says how long until one is free.
func (l *limiter) allow(key string, now time.Time) decision {
	s := &l.shards[shardOf(l, key)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.swept) > time.Minute {
		for k, b := range s.buckets {
			if now.Sub(b.last) > idleBucket {
				delete(s.buckets, k)
			}
		}
		s.swept = now
	}
	b, ok := s.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		s.buckets[key] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+elapsed*l.rate)
		b.last = now
	}
	d := decision{limit: int(l.burst)}
	if b.tokens >= 1 {
		b.tokens--
		d.allowed = true
	} else {
		d.retry = l.after(1 - b.tokens)
	}
	d.remaining = int(math.Floor(b.tokens))
	d.reset = l.after(l.burst - b.tokens)
	return d
}

func shardOf(l *limiter, key string) uint64 {
	return maphash.String(l.seed, key) % limiterShards
}

// after is how long the bucket takes to gain n tokens.
func (l *limiter) after(n float64) time.Duration {
	return time.Duration(n / l.rate * float64(time.Second))
}

// seconds rounds up to whole seconds, as the headers carry them.
func seconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}

// tighter is the decision the headers should report when two limits apply:
// a refusal, else the one with fewer requests left.
func tighter(a, b decision) decision {
	switch {
	case !a.allowed:
		return a
	case !b.allowed:
		return b
	case b.remaining < a.remaining:
		return b
	}
	return a
}

// setHeaders writes the rate-limit headers of the IETF draft
// (RateLimit-Limit, -Remaining, -Reset in seconds until the bucket is full)
// and Retry-After on a refusal.
func (d decision) setHeaders(h http.Header) {
	h.Set("RateLimit-Limit", strconv.Itoa(d.limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(d.remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(seconds(d.reset)))
	if !d.allowed {
		h.Set("Retry-After", strconv.Itoa(max(seconds(d.retry), 1)))
	}
}

func (d decision) refuse(w http.ResponseWriter, who string) {
	secs := strconv.Itoa(max(seconds(d.retry), 1))
	writeError(w, protocolError{http.StatusTooManyRequests, "too_many_requests", "too many requests from this " + who + "; retry after " + secs + "s"})
}

type clientDecisionKey struct{}

// limited answers 429 with Retry-After when the client's bucket is empty.
// The client is the request's remote address, or the address a trusted proxy
// forwarded (see clientAddress).
func (a *API) limited(h http.HandlerFunc) http.HandlerFunc {
	if a.limiter == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		d := a.limiter.allow(a.opts.TrustedProxies.clientAddress(r), time.Now())
		d.setHeaders(w.Header())
		if !d.allowed {
			d.refuse(w, "client")
			return
		}
		if a.wsLimiter != nil {
			// The workspace limit, applied once the access token names the
			// workspace, reports whichever of the two is tighter.
			r = r.WithContext(withClientDecision(r.Context(), d))
		}
		h(w, r)
	}
}

// limitWorkspace takes a token from the bucket of the workspace an access
// token was verified for. It keys on the verified token, never on the path or
// the body, so nobody can spend another workspace's budget; and it needs no
// database read. It answers 429 itself and reports false when the workspace is
// over its limit.
func (a *API) limitWorkspace(w http.ResponseWriter, r *http.Request, workspaceID string) bool {
	if a.wsLimiter == nil {
		return true
	}
	d := a.wsLimiter.allow(workspaceID, time.Now())
	if client, ok := clientDecision(r.Context()); ok {
		tighter(client, d).setHeaders(w.Header())
	} else {
		d.setHeaders(w.Header())
	}
	if !d.allowed {
		d.refuse(w, "workspace")
		return false
	}
	return true
}

func withClientDecision(ctx context.Context, d decision) context.Context {
	return context.WithValue(ctx, clientDecisionKey{}, d)
}

func clientDecision(ctx context.Context) (decision, bool) {
	d, ok := ctx.Value(clientDecisionKey{}).(decision)
	return d, ok
}
