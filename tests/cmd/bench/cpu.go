package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudlicense/authority/tests/stack"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's CPU
// times: 100 on every Linux this runs on.
const clockTicks = 100

// cpuTime is the CPU (user and system) a process has used so far, or 0 when
// it is gone.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis are fixed: utime and stime are the 12th and 13th.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * time.Second / clockTicks
}

// cpuMeter accounts the CPU every part of the system spends, by part: each
// service, NATS, this load generator, and the Postgres backends serving the
// bench's database. Divided by the operations done, it says what one
// operation costs the machine whatever else the machine is doing, which the
// rates alone cannot when other work shares the cores.
type cpuMeter struct {
	s       *stack.Stack
	natsPID int
	db      *pgx.Conn
}

// cpuSample is CPU used so far per part; Postgres backends are kept by pid,
// since they come and go.
type cpuSample struct {
	parts    map[string]time.Duration
	backends map[int]time.Duration
}

func (m *cpuMeter) sample(ctx context.Context) (cpuSample, error) {
	out := cpuSample{parts: map[string]time.Duration{}, backends: map[int]time.Duration{}}
	for _, name := range stack.Services {
		out.parts[name] = cpuTime(m.s.PID(name))
	}
	out.parts["nats"] = cpuTime(m.natsPID)
	out.parts["load generator"] = cpuTime(os.Getpid())
	rows, err := m.db.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	if err != nil {
		return out, err
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return out, err
	}
	for _, pid := range pids {
		out.backends[int(pid)] = cpuTime(int(pid))
	}
	return out, nil
}

// cpuUse is what the parts spent between two samples.
type cpuUse map[string]time.Duration

func (u cpuUse) total() time.Duration {
	var t time.Duration
	for _, d := range u {
		t += d
	}
	return t
}

// since is the CPU spent from start to end; a backend that ended between the
// two is not counted (the pools keep theirs open during a figure).
func (end cpuSample) since(start cpuSample) cpuUse {
	u := cpuUse{}
	for name, d := range end.parts {
		u[name] = d - start.parts[name]
	}
	for pid, d := range end.backends {
		u["postgres"] += d - start.backends[pid]
	}
	return u
}

// reportCPU prints what one operation of name cost each part, and the ratio
// the figure would reach, with the whole machine to itself, against a
// baseline costing base per operation: base / total.
func reportCPU(w io.Writer, name string, u cpuUse, ops int, base time.Duration, baseName, baseLabel string) {
	if ops == 0 {
		return
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(ops) }
	fmt.Fprintf(w, "\nCPU per %s, by process (µs; %d operations)\n", name, ops)
	names := make([]string, 0, len(u))
	for n := range u {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return int(u[b] - u[a]) })
	for _, n := range names {
		fmt.Fprintf(w, "%-16s %9.0f\n", n, per(u[n]))
	}
	total := per(u.total())
	baseUS := float64(base.Nanoseconds()) / 1e3
	fmt.Fprintf(w, "%-16s %9.0f  (%s: %.0f µs; ratio with the machine to itself: %.3f)\n",
		"total", total, baseLabel, baseUS, baseUS/total)
	fmt.Fprintf(w, "\nBENCH name=%s_cpu value=%.1f unit=us_per_op baseline=%s_cpu ratio=%.4f\n", name, total, baseName, baseUS/total)
}
