package server_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
)

// BenchmarkSync measures the steady state of the hot path: workspaces whose
// license still fits, syncing concurrently over gRPC with authorization,
// against real Postgres.
func BenchmarkSync(b *testing.B) {
	e := start(b)
	const workspaces = 256
	reqs := make([]*syncv1.SyncRequest, workspaces)
	for i := range reqs {
		reqs[i] = &syncv1.SyncRequest{WorkspaceId: fmt.Sprintf("ws-bench-%d", i), Report: report("chat.example.com")}
		e.sync(b, reqs[i].GetWorkspaceId(), reqs[i].GetReport())
	}
	var next atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := reqs[next.Add(1)%workspaces]
			if _, err := e.client.Sync(b.Context(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
