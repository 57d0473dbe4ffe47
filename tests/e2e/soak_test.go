package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/tests/stack"
	"github.com/cloudlicense/authority/tests/workspace"
)

// TestSoak runs mixed traffic (syncs, token requests, registrations and seat
// changes) for SOAK_DURATION (`make soak`; skipped when unset) while sampling
// every service's resident memory and goroutine count from its metrics
// endpoint. After a warm-up it fits a line through each series and fails when
// the growth the slope predicts over the run exceeds the tolerance: a leak
// shows as a steady slope, where noise averages out.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("SOAK_DURATION"))
	if err != nil || d <= 0 {
		t.Skip("set SOAK_DURATION (make soak) to run the soak")
	}
	sys := startSystem(t, false)
	ctx := t.Context()
	ws := workspace.New(sys.GatewayURL)
	customer := createCustomer(t, sys, "Soak")
	token := createToken(t, sys, customer, "", 100000)
	admin := adminClient(t, sys)

	type member struct {
		registered
		seats int64
	}
	var members []*member
	for i := range 8 {
		r := registerWorkspace(t, sys, ws, token, fmt.Sprintf("soak%d", i), fmt.Sprintf("https://soak%d.example.com", i))
		members = append(members, &member{registered: r})
	}

	var ops, failures atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		failures.Add(1)
		firstErr.CompareAndSwap(nil, err)
	}
	loadCtx, stopLoad := context.WithTimeout(ctx, d)
	defer stopLoad()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; loadCtx.Err() == nil; i++ {
				m := members[(w+i)%len(members)]
				var err error
				switch {
				case i%50 == 0:
					_, err = ws.Register(loadCtx, token, "s@soak.test", "soak")
				case i%25 == 0:
					seats := 10 + int64(i%7)
					_, err = admin.Subscriptions.GrantSubscription(loadCtx, &signerv1.GrantSubscriptionRequest{
						IdempotencyKey: fmt.Sprintf("soak-%d-%d", w, i), WorkspaceId: m.creds.WorkspaceID, CustomerId: customer, PlanId: "pro", Seats: &seats,
					})
				case i%10 == 0:
					_, err = ws.Token(loadCtx, m.creds.ClientID, m.creds.ClientSecret, workspace.DefaultScopes)
				default:
					_, err = ws.Sync(loadCtx, m.creds.WorkspaceID, m.full, m.data)
				}
				if err != nil && loadCtx.Err() == nil {
					fail(err)
				}
				ops.Add(1)
			}
		}()
	}

	every := max(d/40, time.Second)
	var samples []soakSample
	start := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
sampling:
	for {
		s := soakSample{at: time.Since(start), values: map[string][2]float64{}}
		for _, name := range stack.Services {
			rss, gor, err := scrape(loadCtx, sys.MetricsURL[name])
			if err != nil {
				if loadCtx.Err() != nil {
					break sampling
				}
				t.Fatalf("metrics of %s: %v", name, err)
			}
			s.values[name] = [2]float64{rss, gor}
		}
		samples = append(samples, s)
		select {
		case <-loadCtx.Done():
			break sampling
		case <-tick.C:
		}
	}
	wg.Wait()
	if n, f := ops.Load(), failures.Load(); f*100 > n {
		t.Fatalf("%d of %d operations failed (first: %v)", f, n, firstErr.Load())
	}

	// The first quarter is warm-up: pools fill, caches load.
	steady := samples[len(samples)/4:]
	if len(steady) < 8 {
		t.Fatalf("only %d samples after warm-up: run longer", len(steady))
	}
	span := (steady[len(steady)-1].at - steady[0].at).Minutes()
	var report strings.Builder
	fmt.Fprintf(&report, "soak: %s, %d operations (%.0f/s), %d failed, %d samples after warm-up\n", d, ops.Load(), float64(ops.Load())/d.Seconds(), failures.Load(), len(steady))
	fmt.Fprintf(&report, "%-9s %10s %10s %12s %9s %9s %12s  %s\n", "service", "RSS first", "RSS last", "RSS MiB/min", "gor first", "gor last", "gor /min", "verdict")
	for _, name := range stack.Services {
		var xs, rss, gor []float64
		for _, s := range steady {
			xs = append(xs, s.at.Minutes())
			rss = append(rss, s.values[name][0]/(1<<20))
			gor = append(gor, s.values[name][1])
		}
		rssSlope, gorSlope := slope(xs, rss), slope(xs, gor)
		// Tolerances: growth over the steady span of at most 10% of the
		// mean (or 8 MiB) for memory, and 10% (or 10) for goroutines.
		rssLimit, gorLimit := max(0.10*mean(rss), 8), max(0.10*mean(gor), 10)
		verdict := "flat"
		if rssSlope*span > rssLimit || gorSlope*span > gorLimit {
			verdict = "GROWING"
			t.Errorf("%s grows: %.2f MiB/min and %.1f goroutines/min over %.1f min (tolerance %.1f MiB, %.0f goroutines)", name, rssSlope, gorSlope, span, rssLimit, gorLimit)
		}
		fmt.Fprintf(&report, "%-9s %10.1f %10.1f %12.3f %9.0f %9.0f %12.2f  %s\n", name, rss[0], rss[len(rss)-1], rssSlope, gor[0], gor[len(gor)-1], gorSlope, verdict)
	}
	fmt.Print(report.String())
}

type soakSample struct {
	at     time.Duration
	values map[string][2]float64 // service -> RSS bytes, goroutines
}

// scrape reads the resident memory and goroutine count from a Prometheus
// text endpoint.
func scrape(ctx context.Context, url string) (rss, goroutines float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var found int
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		switch f[0] {
		case "process_resident_memory_bytes":
			rss, err = strconv.ParseFloat(f[1], 64)
			found++
		case "go_goroutines":
			goroutines, err = strconv.ParseFloat(f[1], 64)
			found++
		}
		if err != nil {
			return 0, 0, err
		}
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("%s lacks process_resident_memory_bytes or go_goroutines", url)
	}
	return rss, goroutines, sc.Err()
}

// slope is the least-squares slope of ys over xs.
func slope(xs, ys []float64) float64 {
	mx, my := mean(xs), mean(ys)
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	if den == 0 {
		return 0
	}
	return num / den
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// The fit the soak's verdict rests on: a known line and flat noise.
func TestSlope(t *testing.T) {
	xs := []float64{0, 1, 2, 3, 4}
	if got := slope(xs, []float64{3, 5, 7, 9, 11}); got != 2 {
		t.Fatalf("slope of y = 2x + 3: %v", got)
	}
	if got := slope(xs, []float64{5, 6, 5, 6, 5}); got < -0.11 || got > 0.11 {
		t.Fatalf("slope of flat noise: %v", got)
	}
}
