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
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 8*time.Second, "how long each figure is measured")
	flag.IntVar(&o.workers, "workers", 64, "concurrent clients")
	flag.IntVar(&o.workspaces, "workspaces", 256, "workspaces syncing in the sync figure")
	flag.IntVar(&o.tokens, "tokens", 8, "registration tokens the registering clients share")
	flag.StringVar(&o.serve, "serve", "", "internal: run a baseline server (noop-http or noop-grpc) on -addr")
	flag.StringVar(&o.addr, "addr", "", "internal: address of the baseline server")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	if o.serve != "" {
		err = serveBaseline(ctx, o.serve, o.addr)
	} else {
		err = run(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
