// Package domain holds the sync service's rules: a workspace's sync view, the
// license it carries and when a sync must ask the signer for another, the
// usage report and how it is validated, and the errors sync returns. No gRPC
// or SQL here.
package domain

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/validate"
)

// Errors of the sync service.
var (
	ErrWorkspaceNotFound = errors.New("workspace not found")
	// ErrSignerUnavailable means the license signer could not answer now; a
	// sync that already holds a license is served without it.
	ErrSignerUnavailable = errors.New("license signer unavailable, retry")
	// ErrInvalidRequest marks a malformed request from an internal caller, as
	// opposed to bad registration data from a workspace.
	ErrInvalidRequest = errors.New("invalid request")
)

// View is what a workspace must have now. Revision grows with every change to
// its artifacts (not with syncs), so watchers can tell old from new.
type View struct {
	WorkspaceID     string
	Revision        int64
	LicenseSequence int64
	License         string
	LicenseAddress  string
	RemoveLicense   bool
	UpdatedAt       time.Time
	LastSyncedAt    *time.Time
}

// HasLicense reports whether the view holds a license to serve.
func (v View) HasLicense() bool { return v.License != "" }

// NeedsLicense reports whether a workspace reporting address must be given a
// license by the signer: it has none, or its license is bound to another
// site. Addresses compare the way a workspace checks serverUrls, so
// "https://Chat.example.com/" and "chat.example.com" are the same site.
// A view whose license was withdrawn needs nothing: the workspace keeps
// being told to remove its license until it is reinstated.
func (v View) NeedsLicense(address string) bool {
	if v.RemoveLicense {
		return false
	}
	return !v.HasLicense() || v.LicenseAddress != license.StripAddress(address)
}

// License is one issued license as the view keeps it.
type License struct {
	// Sequence is the signer's per-workspace counter: a view only ever moves
	// to a higher one, so a late or redelivered license never rolls it back.
	Sequence int64
	Token    string
	// Address is the stripped site address the license is bound to.
	Address string
	// Limits are the license's lowest maxima, as read by Normalize.
	Limits Limits
}

// Limits are the maxima of a license that a usage report can be compared
// with; nil when the license sets none of that kind.
type Limits struct {
	ActiveUsers           *int64
	MonthlyActiveContacts *int64
}

// limitsOf reads the lowest maxima of a license sync stored. The signature is
// not checked: the license came from the signer, over an authenticated
// channel, and is only read for reporting. A license that does not parse
// has no limits.
func limitsOf(token string) Limits {
	limits, err := license.ReadLimits(token)
	if err != nil {
		return Limits{}
	}
	lowest := func(ls []license.Limit) *int64 {
		var out *int64
		for _, l := range ls {
			if out == nil || int64(l.Max) < *out {
				out = new(int64(l.Max))
			}
		}
		return out
	}
	return Limits{ActiveUsers: lowest(limits.ActiveUsers), MonthlyActiveContacts: lowest(limits.MonthlyActiveContacts)}
}

// Over names the limit kinds that seats and monthly active contacts exceed.
func (l Limits) Over(seats, mac int64) []string {
	var over []string
	if l.ActiveUsers != nil && seats > *l.ActiveUsers {
		over = append(over, "activeUsers")
	}
	if l.MonthlyActiveContacts != nil && mac > *l.MonthlyActiveContacts {
		over = append(over, "monthlyActiveContacts")
	}
	return over
}

// Withdrawal is a license withdrawn from a workspace (a suspension). It
// carries the workspace's next license sequence, so it moves a view under
// the same rule as a license.
type Withdrawal struct {
	Sequence int64
}

// Validate rejects a license that cannot be applied to a view.
func (l License) Validate() error {
	switch {
	case l.Sequence <= 0:
		return fmt.Errorf("license sequence %d is not positive", l.Sequence)
	case l.Token == "":
		return errors.New("license has no token")
	}
	return nil
}

// Normalize strips the address the way licenses are bound, and reads the
// license's limits.
func (l License) Normalize() License {
	l.Address = license.StripAddress(l.Address)
	l.Limits = limitsOf(l.Token)
	return l
}

// ValidateWorkspaceID rejects a missing or oversized workspace id. The
// gateway fills it from the access token, so a bad one is the caller's bug.
func ValidateWorkspaceID(id string) error {
	if strings.TrimSpace(id) == "" || len(id) > 128 {
		return fmt.Errorf("%w: %w", ErrInvalidRequest, validate.Field("workspace_id", "required, at most 128 characters"))
	}
	return nil
}

// UsageRecord is one stored usage report.
type UsageRecord struct {
	UniqueID              string
	Address               string
	Version               string
	Seats                 int64
	MonthlyActiveContacts int64
	ConnectionDisabled    bool
	ReceivedAt            time.Time
}

// Usage is a workspace's latest usage beside the limits of its license.
type Usage struct {
	WorkspaceID     string
	LicenseSequence int64
	Limits          Limits
	Latest          *UsageRecord
	History         []UsageRecord
}

// Over names the limit kinds the latest report exceeds.
func (u Usage) Over() []string {
	if u.Latest == nil {
		return nil
	}
	return u.Limits.Over(u.Latest.Seats, u.Latest.MonthlyActiveContacts)
}
