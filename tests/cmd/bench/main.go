// Command bench measures the whole authority for `make bench`: it starts
// NATS, a fresh Postgres database and the six services as separate
// processes, drives them from this process over loopback, and prints each
// figure beside a baseline measured in the same run on the same machine (a
// no-op HTTP handler and a no-op gRPC call, each in its own process).
//
// Besides the table it prints one line per figure:
//
//	BENCH name=<name> value=<number> unit=<unit> [baseline=<name> ratio=<number>]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type options struct {
	duration   time.Duration
	workers    int
	workspaces int
	tokens     int
	serve      string
	addr       string
	figures    map[string]bool
	watchers   int
	payload    int
}

// wants says whether the figure (or group of figures) was asked for.
func (o options) wants(name string) bool { return o.figures[name] }

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 8*time.Second, "how long each figure is measured")
	flag.IntVar(&o.workers, "workers", 64, "concurrent clients")
	flag.IntVar(&o.workspaces, "workspaces", 256, "workspaces syncing in the sync figure")
	flag.IntVar(&o.tokens, "tokens", 8, "registration tokens the registering clients share")
	flag.StringVar(&o.serve, "serve", "", "internal: run a baseline server (noop-http, noop-grpc or noop-broadcast) on -addr")
	flag.StringVar(&o.addr, "addr", "", "internal: address of the baseline server")
	figures := flag.String("figures", "noop,registration,sync,issuance,log,watch", "figures to measure, comma-separated (registration always runs: the others need its workspaces; log needs issuance and measures it too)")
	flag.IntVar(&o.watchers, "watchers", 10000, "concurrent watchers in the watch figures, each on its own connection (0 skips them)")
	flag.IntVar(&o.payload, "payload", 0, "internal: size of the license text the noop-broadcast baseline sends")
	flag.Parse()
	o.figures = map[string]bool{}
	for _, f := range strings.Split(*figures, ",") {
		o.figures[strings.TrimSpace(f)] = true
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	raiseFileLimit()
	var err error
	if o.serve == "noop-broadcast" {
		err = serveBroadcast(ctx, o.addr, o.payload)
	} else if o.serve != "" {
		err = serveBaseline(ctx, o.serve, o.addr)
	} else {
		err = run(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
