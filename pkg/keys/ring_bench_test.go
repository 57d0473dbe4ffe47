package keys

import (
	"context"
	"testing"
	"time"
)

// BenchmarkRingActive measures what the issuance hot path pays to pick its
// signing key from the in-memory keyset, beside the file manager (a key held
// in a struct) measured in the same run: ring_over_file is the ratio.
func BenchmarkRingActive(b *testing.B) {
	ctx := context.Background()
	s, err := NewSealed(make([]byte, KEKSize))
	if err != nil {
		b.Fatal(err)
	}
	priv := rsaKey()
	ref, err := s.Import(ctx, priv)
	if err != nil {
		b.Fatal(err)
	}
	r := NewRing(s)
	if err := r.Load(ctx, []Record{{ID: KeyID(&priv.PublicKey), Algorithm: AlgRS256, State: StateActive, Public: &priv.PublicKey, Backend: s.Name(), Ref: ref}}); err != nil {
		b.Fatal(err)
	}
	k, _ := NewKey(priv)
	f := &File{key: k}
	measure := func(m Manager) time.Duration {
		start := time.Now()
		for range b.N {
			if _, err := m.Active(ctx); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	b.ResetTimer()
	file := measure(f)
	ring := measure(r)
	b.ReportMetric(float64(file.Nanoseconds())/float64(b.N), "file_ns/op")
	b.ReportMetric(float64(ring.Nanoseconds())/float64(b.N), "ring_ns/op")
	b.ReportMetric(float64(ring)/float64(file), "ring_over_file")
}
