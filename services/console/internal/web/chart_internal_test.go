package web

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
)

func TestUsageChart(t *testing.T) {
	t.Parallel()
	if got := usageChart(&syncv1.GetUsageResponse{}); got != "" {
		t.Fatalf("a chart without reports: %q", got)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	limit := int64(50)
	// Newest first, as GetUsage returns them; the chart orders by time.
	u := &syncv1.GetUsageResponse{Limits: &syncv1.LicenseLimits{ActiveUsers: &limit}, History: []*syncv1.UsageRecord{
		{Seats: 60, ReceivedAt: timestamppb.New(t0.Add(2 * time.Hour))},
		{Seats: 30, ReceivedAt: timestamppb.New(t0.Add(time.Hour))},
		{Seats: 10, ReceivedAt: timestamppb.New(t0)},
	}}
	svg := string(usageChart(u))
	for _, want := range []string{`role="img"`, `aria-labelledby="chart-title chart-desc"`, "3 usage reports from 2026-03-01 12:00 to 2026-03-01 14:00; latest: 60 active users",
		"limit of the license in use: 50", "2026-03-01 12:00: 10 active users", "</svg>"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q:\n%s", want, svg)
		}
	}
	// Points run left to right in time: the first x is the left padding.
	pts := svg[strings.Index(svg, `points="`)+len(`points="`):]
	pts = pts[:strings.IndexByte(pts, '"')]
	if xs := strings.Fields(pts); len(xs) != 3 || !strings.HasPrefix(xs[0], "24.0,") || !strings.HasPrefix(xs[2], "576.0,") {
		t.Fatalf("points %q", pts)
	}
}
