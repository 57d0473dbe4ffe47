package versionpolicy

import (
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// The window's edges: 7.2.0 ships 2026-06-09T00:00Z and is supported for 6
// months, through 2026-12-09T00:00:00Z exactly.
func TestDecideAtTheWindowEdges(t *testing.T) {
	t.Parallel()
	p := Policy{
		Releases: []Release{
			{Version: "7.1.0", ReleasedAt: day("2026-03-10T00:00:00Z")},
			{Version: "7.2.0", ReleasedAt: day("2026-06-09T00:00:00Z")},
			{Version: "7.3.0", ReleasedAt: day("2026-09-08T00:00:00Z"), SupportMonths: 3},
		},
		EnforceFrom: day("2026-01-01T00:00:00Z"),
		Exceptions: []Exception{
			{ID: "vex_c", CustomerID: "cus_acme", Line: "7.1", Until: day("2027-01-31T00:00:00Z")},
			{ID: "vex_l", LicenseID: "lic_1", WorkspaceID: "ws_lic", Line: "7.2", Until: day("2027-01-15T00:00:00Z")},
		},
	}
	plain := Who{WorkspaceID: "ws_plain", CustomerID: "cus_other", CustomerKnown: true}
	acme := Who{WorkspaceID: "ws_acme", CustomerID: "cus_acme", CustomerKnown: true}
	licensed := Who{WorkspaceID: "ws_lic", CustomerID: "cus_other", CustomerKnown: true}
	for _, tc := range []struct {
		name, version string
		who           Who
		now           string
		supported     bool
		refused       bool
		exception     string
	}{
		{"day before expiry", "7.2.1", plain, "2026-12-08T00:00:00Z", true, false, ""},
		{"last instant of the window", "7.2.1", plain, "2026-12-09T00:00:00Z", true, false, ""},
		{"one millisecond after", "7.2.1", plain, "2026-12-09T00:00:00.001Z", false, true, ""},
		{"day after expiry", "7.2.1", plain, "2026-12-10T00:00:00Z", false, true, ""},
		{"own window of 3 months, day before", "7.3.0", plain, "2026-12-07T00:00:00Z", true, false, ""},
		{"own window of 3 months, day after", "7.3.0", plain, "2026-12-09T00:00:00Z", false, true, ""},
		{"customer exception covers its workspaces", "7.1.4", acme, "2027-01-31T23:59:59.999Z", true, false, "vex_c"},
		{"customer exception ends with its day", "7.1.4", acme, "2027-02-01T00:00:00Z", false, true, ""},
		{"customer exception is not another customer's", "7.1.4", plain, "2026-12-10T00:00:00Z", false, true, ""},
		{"license exception covers its workspace", "7.2.0", licensed, "2027-01-15T12:00:00Z", true, false, "vex_l"},
		{"license exception, day after", "7.2.0", licensed, "2027-01-16T00:00:00Z", false, true, ""},
		{"license exception is for its line only", "7.1.0", licensed, "2026-12-10T00:00:00Z", false, true, ""},
		{"a line newer than every release", "8.0.0", plain, "2030-01-01T00:00:00Z", true, false, ""},
		{"an old line never recorded", "6.0.0", plain, "2026-12-10T00:00:00Z", false, true, ""},
		{"a release candidate belongs to its line", "7.2.0-rc.1", plain, "2026-12-08T00:00:00Z", true, false, ""},
		{"unreadable version", "seven", plain, "2026-12-08T00:00:00Z", false, true, ""},
		{"before enforcement, unsupported but served", "6.0.0", plain, "2025-12-31T23:59:59.999Z", false, false, ""},
		{"enforcement starts at its instant", "6.0.0", plain, "2026-01-01T00:00:00Z", false, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := p.Decide(tc.version, tc.who, day(tc.now))
			if d.Supported != tc.supported || d.Refused != tc.refused {
				t.Fatalf("Decide(%s at %s) = supported %v refused %v (%s), want %v %v", tc.version, tc.now, d.Supported, d.Refused, d.Reason, tc.supported, tc.refused)
			}
			got := ""
			if d.Exception != nil {
				got = d.Exception.ID
			}
			if got != tc.exception {
				t.Errorf("exception = %q, want %q", got, tc.exception)
			}
			if tc.refused && d.Reason == "" {
				t.Error("a refusal without a reason")
			}
		})
	}
}

func TestDecideNeedsCustomerOnlyWhenACustomerExceptionCouldApply(t *testing.T) {
	t.Parallel()
	p := Policy{
		Releases:    []Release{{Version: "7.1.0", ReleasedAt: day("2026-03-10T00:00:00Z")}},
		EnforceFrom: day("2026-01-01T00:00:00Z"),
		Exceptions:  []Exception{{ID: "vex", CustomerID: "cus_acme", Line: "7.1", Until: day("2027-01-31T00:00:00Z")}},
	}
	now := day("2026-12-10T00:00:00Z")
	if d := p.Decide("7.1.0", Who{WorkspaceID: "ws"}, now); !d.Refused || !d.NeedsCustomer {
		t.Errorf("unknown customer, an exception on the line: %+v, want refused and needs customer", d)
	}
	if d := p.Decide("7.1.0", Who{WorkspaceID: "ws"}, day("2027-02-01T00:00:00Z")); d.NeedsCustomer {
		t.Errorf("the exception is over, yet the customer is asked for: %+v", d)
	}
	p.EnforceFrom = time.Time{}
	if d := p.Decide("7.1.0", Who{WorkspaceID: "ws"}, now); d.Refused || d.NeedsCustomer {
		t.Errorf("never enforced: %+v", d)
	}
}

func TestDefaultSupportMonthsIsConfigurable(t *testing.T) {
	t.Parallel()
	r := Release{Version: "7.0.0", ReleasedAt: day("2025-08-31T10:00:00Z")}
	if got, want := (Policy{}).Expiration(r), day("2026-02-28T10:00:00Z"); !got.Equal(want) {
		t.Errorf("default 6 months from Aug 31 = %v, want %v (the month's last day)", got, want)
	}
	if got, want := (Policy{DefaultSupportMonths: 9}).Expiration(r), day("2026-05-31T10:00:00Z"); !got.Equal(want) {
		t.Errorf("9 months = %v, want %v", got, want)
	}
	r.SupportMonths = 1
	if got, want := (Policy{DefaultSupportMonths: 9}).Expiration(r), day("2025-09-30T10:00:00Z"); !got.Equal(want) {
		t.Errorf("the release's own window = %v, want %v", got, want)
	}
}

func TestParseLine(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"7.2": "7.2", "7.2.5": "7.2", "10.0.0": "10.0"} {
		if got, err := ParseLine(in); err != nil || got != want {
			t.Errorf("ParseLine(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "7", "7.2.1.0", "07.2", "7.x", "7.2.0-rc.1", "-1.2"} {
		if _, err := ParseLine(in); err == nil {
			t.Errorf("ParseLine(%q) accepted", in)
		}
	}
}
