package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/cloudlicense/authority/tests/stack"
)

// idleMemory reads each service's resident set size (VmRSS) while the
// system is idle: what a replica costs before it does any work.
func idleMemory(s *stack.Stack) (map[string]int64, error) {
	out := map[string]int64{}
	for _, name := range stack.Services {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.PID(name)))
		if err != nil {
			return nil, fmt.Errorf("memory of %s: %w", name, err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" && f[2] == "kB" {
				kb, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil {
					return nil, err
				}
				out[name] = kb * 1024
			}
		}
	}
	return out, nil
}

// reportMemory prints the idle memory table and BENCH lines.
func reportMemory(w io.Writer, rss map[string]int64) {
	fmt.Fprintf(w, "\nIdle resident memory per service (target: under 40 MiB each)\n")
	for _, name := range stack.Services {
		fmt.Fprintf(w, "%-10s %6.1f MiB\n", name, float64(rss[name])/(1<<20))
	}
	fmt.Fprintln(w)
	for _, name := range stack.Services {
		fmt.Fprintf(w, "BENCH name=idle_rss_%s value=%d unit=bytes\n", name, rss[name])
	}
}
