// Package load runs a closed-loop load: a fixed number of workers each
// calling one operation back to back for a fixed time, recording every
// latency. Rates and percentiles come from the same code for the system's
// figures and for their baselines, so the ratios compare like with like.
package load

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Result of one run.
type Result struct {
	Name     string
	Ops      int
	Errors   int
	FirstErr error
	Elapsed  time.Duration
	P50, P99 time.Duration
}

// Rate is operations per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

func (r Result) String() string {
	return fmt.Sprintf("%-14s %10.0f/s  p50 %7.2fms  p99 %7.2fms  (%d ops, %d errors)",
		r.Name, r.Rate(), ms(r.P50), ms(r.P99), r.Ops, r.Errors)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Run calls op from workers goroutines for d. op gets the worker number and
// the worker's call count; errors are counted, not retried.
func Run(ctx context.Context, name string, workers int, d time.Duration, op func(ctx context.Context, worker, i int) error) Result {
	deadline := time.Now().Add(d)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	lats := make([][]time.Duration, workers)
	errs := make([]int, workers)
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				t0 := time.Now()
				err := op(ctx, w, i)
				if ctx.Err() != nil || (err != nil && time.Until(deadline) < 50*time.Millisecond) {
					// Cut off by the deadline (grpc's own timer may fire a
					// moment before the context's): not a measurement.
					return
				}
				if err != nil {
					errs[w]++
					once.Do(func() { firstErr = err })
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	res := Result{Name: name, Elapsed: time.Since(start), FirstErr: firstErr}
	var all []time.Duration
	for w := range workers {
		all = append(all, lats[w]...)
		res.Errors += errs[w]
	}
	res.Ops = len(all)
	if len(all) > 0 {
		slices.Sort(all)
		res.P50 = all[len(all)*50/100]
		res.P99 = all[min(len(all)-1, len(all)*99/100)]
	}
	return res
}
