package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudlicense/authority/pkg/client"
	"github.com/cloudlicense/authority/pkg/keys"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/tests/load"
	"github.com/cloudlicense/authority/tests/workspace"
)

var (
	issuanceWorkers    = flag.Int("issuance-workers", 32, "concurrent subscription changes in the issuance figure (and the Postgres commit baseline)")
	issuanceWorkspaces = flag.Int("issuance-workspaces", 4, "workspaces each issuance worker changes in turn")
)

// issuanceFigures measures licenses issued per second while workers change
// the seats of their own workspaces through the subscription API (each call
// one transaction that signs a license and writes it with its outbox row),
// beside two baselines from the same run: the RS256 signing rate of the
// signer's own key in this process on every core, and the rate of one-row
// Postgres commits at the same concurrency on a throwaway table. The
// issuance figure is compared with the lower of the two, the one that bounds
// it.
func issuanceFigures(ctx context.Context, o options, admin *client.Client, dbURL, dir string, creds [][]workspace.Credentials, cpu *cpuMeter) ([]figure, error) {
	workers := *issuanceWorkers

	// RS256 with the key the signer signs with.
	km, err := keys.LoadOrCreateFile(filepath.Join(dir, "keys", "license.pem"), false)
	if err != nil {
		return nil, fmt.Errorf("the signer's license key: %w", err)
	}
	key, err := km.Active(ctx)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256([]byte(`{"version":"3.0","information":{"id":"lic_bench"}}`))
	signStart := cpuTime(os.Getpid())
	sign := load.Run(ctx, "rs256_sign", runtime.GOMAXPROCS(0), o.duration, func(context.Context, int, int) error {
		_, err := key.Signer.Sign(rand.Reader, digest[:], crypto.SHA256)
		return err
	})
	signCPU := (cpuTime(os.Getpid()) - signStart) / time.Duration(max(sign.Ops, 1))

	// One-row commits on a throwaway table in the bench database.
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(workers)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE public.bench_commit (id bigserial PRIMARY KEY, v bigint NOT NULL, at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, err
	}
	commit := load.Run(ctx, "pg_commit", workers, o.duration, func(ctx context.Context, w, i int) error {
		_, err := pool.Exec(ctx, `INSERT INTO public.bench_commit (v) VALUES ($1)`, int64(w)<<32|int64(i))
		return err
	})
	_, err = pool.Exec(ctx, `DROP TABLE public.bench_commit`)
	// Its connections go back before the services need theirs: the server's
	// connection limit is shared.
	pool.Close()
	if err != nil {
		return nil, err
	}

	// Each worker owns its workspaces, so the figure measures issuance, not
	// waiting on another worker's workspace lock.
	var ids []string
	for _, cs := range creds {
		for _, c := range cs {
			ids = append(ids, c.WorkspaceID)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("issuance: no registered workspace to change")
	}
	per := max(1, min(*issuanceWorkspaces, len(ids)/workers))
	mine := func(w, i int) string { return ids[(w*per+i%per)%len(ids)] }
	run := randomRun()
	grant := func(ctx context.Context, key string, w, i, seats int) error {
		_, err := admin.Subscriptions.GrantSubscription(ctx, &signerv1.GrantSubscriptionRequest{
			IdempotencyKey: fmt.Sprintf("bench-%s-%s-%d-%d", run, key, w, i), WorkspaceId: mine(w, i), PlanId: "pro", Seats: new(int64(seats)),
		})
		return err
	}
	// Warm-up: every workspace onto Pro once, connections established.
	warm := make(chan error, workers)
	for w := range workers {
		go func() {
			var err error
			for i := 0; i < per && err == nil; i++ {
				err = grant(ctx, "warm", w, i, 10)
			}
			warm <- err
		}()
	}
	for range workers {
		if err := <-warm; err != nil {
			return nil, fmt.Errorf("issuance warm-up: %w", err)
		}
	}
	fmt.Fprintf(os.Stderr, "bench: issuance over %d workers x %d workspaces ...\n", workers, per)
	before, err := cpu.sample(ctx)
	if err != nil {
		return nil, err
	}
	issue := load.Run(ctx, "issuance", workers, o.duration, func(ctx context.Context, w, i int) error {
		return grant(ctx, "run", w, i, 11+i%1000)
	})
	// What the licenses cost includes the work they leave behind (relaying
	// them and applying them to the sync views): it is counted once that is
	// done.
	if err := settleLicenses(ctx, cpu.db); err != nil {
		return nil, err
	}
	after, err := cpu.sample(ctx)
	if err != nil {
		return nil, err
	}
	reportCPU(os.Stdout, "issuance", after.since(before), issue.Ops, signCPU, "rs256_sign", "one RS256 signature alone")
	lower := &sign
	if commit.Rate() < sign.Rate() {
		lower = &commit
	}
	return []figure{{res: sign}, {res: commit}, {res: issue, baseline: lower}}, nil
}

// idleConnsClose makes the services' pools close connections idle for a few
// seconds: the Postgres server's connection limit is shared by every
// service (and the commit baseline), so one figure's busy pool must not keep
// the next figure's service from connecting.
func idleConnsClose(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return dbURL
	}
	q := u.Query()
	q.Set("pool_max_conn_idle_time", "3s")
	u.RawQuery = q.Encode()
	return u.String()
}

func randomRun() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}
