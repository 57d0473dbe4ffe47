package license

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	from := created
	until := created.AddDate(1, 0, 14)
	tests := []struct {
		name    string
		at      time.Time
		valid   bool
		problem string
	}{
		{"before", from.Add(-time.Millisecond), false, "validation.validPeriods[0]: not valid before 2025-01-15T10:00:00.000Z (invalidate_license)"},
		{"at start", from, true, ""},
		{"inside", from.AddDate(0, 6, 0), true, ""},
		{"at end", until, true, ""},
		{"after", until.Add(time.Second), false, "validation.validPeriods[0]: expired at 2026-01-29T10:00:00.000Z (invalidate_license)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := sampleDocument().Summarize(tt.at)
			if s.Valid != tt.valid {
				t.Errorf("Valid = %v, want %v (problems %q)", s.Valid, tt.valid, s.Problems)
			}
			if tt.problem == "" && len(s.Problems) > 0 || tt.problem != "" && !reflect.DeepEqual(s.Problems, []string{tt.problem}) {
				t.Errorf("Problems = %q, want %q", s.Problems, tt.problem)
			}
			want := Summary{
				LicenseID: "lic_golden_0001", WorkspaceID: "ws_123", PlanID: "pro", PlanName: "Pro", PlanVersion: 3,
				Modules:    []string{"auditing", "hide-watermark", "acme.tickets"},
				Limits:     map[string]int{"activeUsers": 25, "guestUsers": 50, "roomsPerGuest": 10, "monthlyActiveContacts": 100},
				ValidFrom:  &from,
				ValidUntil: &until,
				Valid:      s.Valid,
				Problems:   s.Problems,
			}
			if !reflect.DeepEqual(s, want) {
				t.Errorf("Summarize =\n%+v\nwant\n%+v", s, want)
			}
		})
	}
}

func TestSummarizeWindow(t *testing.T) {
	t.Parallel()
	d := sampleDocument()
	d.CloudMeta = nil
	d.Validation.ValidPeriods = []Period{
		{ValidFrom: "2025-01-01T00:00:00Z", InvalidBehavior: BehaviorInvalidateLicense},
		{ValidFrom: "2025-03-01T00:00:00Z", ValidUntil: "2025-12-31T00:00:00Z", InvalidBehavior: BehaviorDisableModules, Modules: []string{"auditing"}},
		{ValidUntil: "2025-06-30T00:00:00Z", InvalidBehavior: BehaviorStartFairPolicy},
	}
	s := d.Summarize(time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC))
	if got, want := FormatTime(*s.ValidFrom)+" "+FormatTime(*s.ValidUntil), "2025-03-01T00:00:00.000Z 2025-06-30T00:00:00.000Z"; got != want {
		t.Errorf("window = %s, want %s", got, want)
	}
	if s.Valid || len(s.Problems) != 1 || !strings.Contains(s.Problems[0], "(disable_modules of auditing)") {
		t.Errorf("Problems = %q", s.Problems)
	}
	if s.WorkspaceID != "ws_123" || s.PlanID != "" {
		t.Errorf("without cloudMeta: workspace %q, plan %q", s.WorkspaceID, s.PlanID)
	}

	d.Validation.ValidPeriods = nil
	if s := d.Summarize(time.Now()); s.ValidFrom != nil || s.ValidUntil != nil || !s.Valid {
		t.Errorf("no periods: %+v", s)
	}

	d.Version = "1.0"
	if s := d.Summarize(time.Now()); s.Valid || len(s.Problems) != 1 || !strings.HasPrefix(s.Problems[0], "version:") {
		t.Errorf("invalid document summarized as %+v", s)
	}
}
