package versions_test

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/versionpolicy"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
	"github.com/cloudlicense/authority/services/sync/internal/versions"
)

// BenchmarkGateCheck is the cost the version check adds to every sync: a
// policy of 60 releases (20 lines of 3 patches) and 50 exceptions, a
// supported version (the common case) and a refused one. Each is reported
// beside a baseline measured in the same run, the sync path's own check of
// the usage report (x_report_validate: how many report validations one
// version check costs).
func BenchmarkGateCheck(b *testing.B) {
	p := versionpolicy.Policy{EnforceFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for line := range 20 {
		for patch := range 3 {
			p.Releases = append(p.Releases, versionpolicy.Release{
				Version: fmt.Sprintf("7.%d.%d", line, patch), ReleasedAt: start.AddDate(0, line, patch*7),
			})
		}
	}
	for i := range 50 {
		p.Exceptions = append(p.Exceptions, versionpolicy.Exception{
			ID: fmt.Sprintf("vex_%d", i), LicenseID: "lic", WorkspaceID: fmt.Sprintf("ws-%d", i), Line: "7.3", Until: start.AddDate(3, 0, 0),
		})
	}
	gate := versions.New(nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) })
	gate.Set(p)
	report := domain.Report{
		UniqueID: "5f1c0ffee0123456789abcde", Address: "https://chat.example.com", Version: "7.18.1", Seats: 120,
		MonthlyActiveContacts: 40, SiteName: "Example Chat", Raw: `{"uniqueId":"5f1c0ffee0123456789abcde","address":"https://chat.example.com","version":"7.18.1","seats":120,"MAC":40}`,
	}
	// The baseline runs first, as a sub-benchmark of its own, and the
	// others are divided by its time per operation.
	var baseline float64
	b.Run("baseline_report_validate", func(b *testing.B) {
		for b.Loop() {
			_ = report.Normalize().Validate()
		}
		baseline = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	for _, tc := range []struct{ name, version string }{{"supported", "7.18.1"}, {"refused", "7.2.1"}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := b.Context()
			for b.Loop() {
				_ = gate.Check(ctx, "ws-99", tc.version)
			}
			perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(perOp/baseline, "x_report_validate")
		})
	}
}
