// Package versionpolicy decides whether a workspace's reported version is
// supported (PROTOCOL.md 7): the releases and their support windows, the
// enforcement date, and the exceptions granted to a customer or a license.
//
// It is pure (no clock, no I/O) so that the signer, which owns the data, and
// the services that enforce it from an in-memory copy decide identically, and
// so that tests can put the clock exactly on the window's edges.
package versionpolicy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultSupportMonths is the support window of a release that names none
// when the policy names none either.
const DefaultSupportMonths = 6

// MaxSupportMonths bounds every support window.
const MaxSupportMonths = 120

// Release is a recorded release of the workspace product.
type Release struct {
	Version    string // "MAJOR.MINOR.PATCH"
	ReleasedAt time.Time
	// SupportMonths is the release's own window; 0 uses the policy's
	// default.
	SupportMonths int
}

// Exception extends the support of one release line for the workspaces of a
// customer, or for the workspace a license was issued to, until the end of
// the UTC day Until.
type Exception struct {
	ID          string
	CustomerID  string // set for a customer's exception
	LicenseID   string // set for a license's exception
	WorkspaceID string // the license's workspace (license exceptions)
	Line        string // "MAJOR.MINOR"
	Until       time.Time
}

// End is the last instant the exception covers: the end of its UTC day.
func (e Exception) End() time.Time { return EndOfDay(e.Until) }

// Policy is everything the decision needs.
type Policy struct {
	Releases []Release
	// DefaultSupportMonths is the window of releases that name none (0:
	// DefaultSupportMonths).
	DefaultSupportMonths int
	// EnforceFrom is the first instant unsupported versions are refused; zero
	// means they are never refused (the document still tells workspaces).
	EnforceFrom time.Time
	Exceptions  []Exception
}

// Months is the support window of r under p.
func (p Policy) Months(r Release) int {
	switch {
	case r.SupportMonths > 0:
		return r.SupportMonths
	case p.DefaultSupportMonths > 0:
		return p.DefaultSupportMonths
	default:
		return DefaultSupportMonths
	}
}

// Expiration is the end of r's support under p (see AddMonths).
func (p Policy) Expiration(r Release) time.Time { return AddMonths(r.ReleasedAt, p.Months(r)) }

// AddMonths is t plus n calendar months on the same day of the month (the
// month's last day when it is shorter) at the same time of day, in UTC.
func AddMonths(t time.Time, n int) time.Time {
	t = t.UTC()
	first := time.Date(t.Year(), t.Month()+time.Month(n), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	lastDay := time.Date(first.Year(), first.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
	return first.AddDate(0, 0, min(t.Day(), lastDay)-1)
}

// EndOfDay is the last millisecond of t's UTC day.
func EndOfDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 23, 59, 59, int(999*time.Millisecond), time.UTC)
}

// Version is a parsed "MAJOR.MINOR.PATCH".
type Version struct{ Major, Minor, Patch int }

// ParseVersion reads a version as a workspace reports it: MAJOR.MINOR or
// MAJOR.MINOR.PATCH, with any pre-release or build suffix ("7.2.1-rc.0",
// "7.2.1+build") ignored, since a release candidate belongs to its line. It
// does not allocate unless the version is bad: it runs on every sync.
func ParseVersion(s string) (Version, error) {
	core := strings.TrimSpace(s)
	if i := strings.IndexAny(core, "-+"); i >= 0 {
		core = core[:i]
	}
	var n [3]int
	parts := 0
	for parts < 3 {
		i := 0
		for i < len(core) && core[i] >= '0' && core[i] <= '9' {
			i++
		}
		if i == 0 || i > 6 || (i > 1 && core[0] == '0') {
			return Version{}, fmt.Errorf("%q is not MAJOR.MINOR.PATCH", s)
		}
		for _, c := range core[:i] {
			n[parts] = n[parts]*10 + int(c-'0')
		}
		parts++
		core = core[i:]
		if core == "" {
			break
		}
		if core[0] != '.' {
			return Version{}, fmt.Errorf("%q is not MAJOR.MINOR.PATCH", s)
		}
		core = core[1:]
	}
	if parts < 2 || core != "" {
		return Version{}, fmt.Errorf("%q is not MAJOR.MINOR.PATCH", s)
	}
	return Version{n[0], n[1], n[2]}, nil
}

// Line is the release line, "MAJOR.MINOR".
func (v Version) Line() string { return strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor) }

// ParseLine reads an exception's release line: "MAJOR.MINOR", or a full
// version whose line is meant.
func ParseLine(s string) (string, error) {
	v, err := ParseVersion(s)
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(s, "-+") {
		return "", fmt.Errorf("%q: a release line has no pre-release or build suffix", s)
	}
	return v.Line(), nil
}

// Who is the workspace asking. CustomerKnown is false where the customer is
// not at hand (the sync service keeps no customers); a decision that would
// hinge on a customer's exception then says NeedsCustomer.
type Who struct {
	WorkspaceID   string
	CustomerID    string
	CustomerKnown bool
}

// Decision is the verdict on one version at one instant.
type Decision struct {
	// Supported: the version is inside its window, or an exception covers
	// it, or its line is newer than every recorded release.
	Supported bool
	// Refused: not supported and the policy is enforced at that instant.
	Refused bool
	// NeedsCustomer: the verdict would be Refused unless an exception of the
	// workspace's customer covers the line, and the customer is not known.
	NeedsCustomer bool
	// Line is the reported version's release line (set when not supported);
	// Expiration the end of its support (zero for an unknown line), Exception
	// the exception that covers it, if one does.
	Line       string
	Expiration time.Time
	Exception  *Exception
	// Reason says why an unsupported version is unsupported, for the
	// workspace's admin.
	Reason string
}

// line is a release line as a map key.
type line struct{ major, minor int }

func (v Version) line() line { return line{v.Major, v.Minor} }

// Rules is a Policy prepared for deciding many times: versions parsed, each
// line's expiration and exceptions looked up by line. The sync path keeps one
// and decides from it without allocating for a supported version.
type Rules struct {
	expiration  map[line]time.Time
	newest      line
	anyRelease  bool
	exceptions  map[line][]Exception
	enforceFrom time.Time
}

// Compile prepares p for Decide. Releases whose version cannot be read are
// left out (the signer never records one).
func (p Policy) Compile() *Rules {
	r := &Rules{expiration: map[line]time.Time{}, exceptions: map[line][]Exception{}, enforceFrom: p.EnforceFrom}
	for _, rel := range p.Releases {
		v, err := ParseVersion(rel.Version)
		if err != nil {
			continue
		}
		l := v.line()
		if e := p.Expiration(rel); e.After(r.expiration[l]) {
			r.expiration[l] = e
		}
		if r.newerThanAll(l) {
			r.newest, r.anyRelease = l, true
		}
	}
	for _, e := range p.Exceptions {
		v, err := ParseVersion(e.Line)
		if err != nil {
			continue
		}
		r.exceptions[v.line()] = append(r.exceptions[v.line()], e)
	}
	return r
}

// newerThanAll says whether l is newer than every recorded release's line.
func (r *Rules) newerThanAll(l line) bool {
	return !r.anyRelease || l.major > r.newest.major || (l.major == r.newest.major && l.minor > r.newest.minor)
}

// Decide is Compile().Decide, for a single decision.
func (p Policy) Decide(version string, who Who, now time.Time) Decision {
	return p.Compile().Decide(version, who, now)
}

// Decide is the verdict on version for who at now. A version is supported
// through the last instant of its line's window: the line's expiration is the
// latest of its recorded releases' (a later patch never shortens a line).
// A line newer than every recorded release is supported (the release is not
// recorded yet); an older line that was never recorded, or a version that
// cannot be read, is not.
func (r *Rules) Decide(version string, who Who, now time.Time) Decision {
	d := Decision{}
	v, err := ParseVersion(version)
	if err != nil {
		d.Reason = fmt.Sprintf("the reported version %q is not a workspace version this cloud knows", version)
		return r.refuse(d, now)
	}
	l := v.line()
	d.Expiration = r.expiration[l]
	newer := r.newerThanAll(l)
	switch {
	case !d.Expiration.IsZero() && !now.After(d.Expiration):
		d.Supported = true
	case d.Expiration.IsZero() && newer:
		d.Supported = true
	}
	if d.Supported {
		// The line is built only when asked for: a supported sync is the
		// hot path and needs no string.
		return d
	}
	d.Line = v.Line()
	customerException := false
	for _, e := range r.exceptions[l] {
		if now.After(e.End()) {
			continue
		}
		switch {
		case e.WorkspaceID != "" && e.WorkspaceID == who.WorkspaceID,
			e.CustomerID != "" && who.CustomerKnown && e.CustomerID == who.CustomerID:
			d.Supported, d.Exception = true, &e
			return d
		case e.CustomerID != "" && !who.CustomerKnown:
			customerException = true
		}
	}
	if d.Expiration.IsZero() {
		d.Reason = fmt.Sprintf("version %s is not a supported release line", version)
	} else {
		d.Reason = fmt.Sprintf("version %s reached the end of its support on %s", version, d.Expiration.UTC().Format("2006-01-02"))
	}
	d = r.refuse(d, now)
	d.NeedsCustomer = d.Refused && customerException
	return d
}

func (r *Rules) refuse(d Decision, now time.Time) Decision {
	d.Refused = !r.enforceFrom.IsZero() && !now.Before(r.enforceFrom)
	return d
}

// Message is what a refused workspace shows its admin.
func (d Decision) Message() string {
	return d.Reason + "; update the workspace to a supported version to register and sync again"
}
