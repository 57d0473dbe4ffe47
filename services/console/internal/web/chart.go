package web

import (
	"fmt"
	"html/template"
	"slices"
	"strings"

	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
)

// usageChart draws the reported active users over time, with the
// license's limit, as inline SVG rendered here: no script and no image
// request, and a text alternative for screen readers.
func usageChart(u *syncv1.GetUsageResponse) template.HTML {
	hist := slices.Clone(u.GetHistory())
	if len(hist) == 0 {
		return ""
	}
	slices.SortFunc(hist, func(a, b *syncv1.UsageRecord) int {
		return a.GetReceivedAt().AsTime().Compare(b.GetReceivedAt().AsTime())
	})
	const w, h, pad = 600.0, 160.0, 24.0
	maxY := int64(1)
	for _, r := range hist {
		maxY = max(maxY, r.GetSeats())
	}
	limit := u.GetLimits().ActiveUsers
	if limit != nil && *limit > 0 {
		maxY = max(maxY, *limit)
	}
	maxY += maxY/10 + 1
	t0, t1 := hist[0].GetReceivedAt().AsTime(), hist[len(hist)-1].GetReceivedAt().AsTime()
	span := t1.Sub(t0).Seconds()
	x := func(i int) float64 {
		if span <= 0 {
			if len(hist) == 1 {
				return w / 2
			}
			return pad + (w-2*pad)*float64(i)/float64(len(hist)-1)
		}
		return pad + (w-2*pad)*hist[i].GetReceivedAt().AsTime().Sub(t0).Seconds()/span
	}
	y := func(v int64) float64 { return h - pad - (h-2*pad)*float64(v)/float64(maxY) }
	var pts []string
	for i, r := range hist {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(r.GetSeats())))
	}
	last := hist[len(hist)-1]
	desc := fmt.Sprintf("%d usage reports from %s to %s; latest: %d active users", len(hist),
		t0.UTC().Format("2006-01-02 15:04"), t1.UTC().Format("2006-01-02 15:04"), last.GetSeats())
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="chart-title chart-desc">`, w, h)
	fmt.Fprintf(&b, `<title id="chart-title">Active users reported over time</title><desc id="chart-desc">%s</desc>`, template.HTMLEscapeString(desc))
	fmt.Fprintf(&b, `<line class="axis" x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f"/>`, pad, y(0), w-pad, y(0))
	if limit != nil && *limit > 0 {
		fmt.Fprintf(&b, `<line class="limit" x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f"/><text class="label end" x="%.0f" y="%.1f">limit of the license in use: %d</text>`,
			pad, y(*limit), w-pad, y(*limit), w-pad, y(*limit)-4, *limit)
	}
	fmt.Fprintf(&b, `<polyline class="series" points="%s"/>`, strings.Join(pts, " "))
	for i, r := range hist {
		fmt.Fprintf(&b, `<circle class="point" cx="%.1f" cy="%.1f" r="3"><title>%s: %d active users</title></circle>`,
			x(i), y(r.GetSeats()), r.GetReceivedAt().AsTime().UTC().Format("2006-01-02 15:04"), r.GetSeats())
	}
	fmt.Fprintf(&b, `<text class="label" x="%.0f" y="%.0f">%d</text>`, pad, pad-8, maxY)
	// The first and last report's times under the axis.
	fmt.Fprintf(&b, `<text class="label" x="%.0f" y="%.0f">%s</text><text class="label end" x="%.0f" y="%.0f">%s</text></svg>`,
		pad, h-6, t0.UTC().Format("Jan 2 15:04"), w-pad, h-6, t1.UTC().Format("Jan 2 15:04"))
	return template.HTML(b.String())
}
