package domain

import (
	"errors"
	"strings"
	"time"

	"github.com/cloudlicense/authority/pkg/validate"
	"github.com/cloudlicense/authority/pkg/versionpolicy"
)

// Errors of the version policy.
var (
	// ErrVersionExceptionNotFound: no exception with that id.
	ErrVersionExceptionNotFound = errors.New("version exception not found")
	// ErrLicenseNotFound: an exception names a license never issued.
	ErrLicenseNotFound = errors.New("license not found")
)

// VersionPolicy is the signer's one row of version policy.
type VersionPolicy struct {
	DefaultSupportMonths int
	// EnforceFrom: zero when unsupported versions are never refused.
	EnforceFrom time.Time
	UpdatedAt   time.Time
}

// Rules is the decision's view of the policy, its releases and its
// exceptions in force.
func (p VersionPolicy) Rules(releases []Release, exceptions []VersionException) versionpolicy.Policy {
	out := versionpolicy.Policy{DefaultSupportMonths: p.DefaultSupportMonths, EnforceFrom: p.EnforceFrom}
	for _, r := range releases {
		out.Releases = append(out.Releases, r.rule())
	}
	for _, e := range exceptions {
		if e.RemovedAt.IsZero() {
			out.Exceptions = append(out.Exceptions, e.Exception)
		}
	}
	return out
}

func (r Release) rule() versionpolicy.Release {
	return versionpolicy.Release{Version: r.Version, ReleasedAt: r.ReleasedAt, SupportMonths: r.SupportMonths}
}

// Expiration is the end of r's support under p.
func (p VersionPolicy) Expiration(r Release) time.Time {
	return versionpolicy.Policy{DefaultSupportMonths: p.DefaultSupportMonths}.Expiration(r.rule())
}

// PolicyChange is a SetVersionPolicy: zero fields leave the policy as it is.
type PolicyChange struct {
	DefaultSupportMonths int
	EnforceFrom          time.Time
	NeverEnforce         bool
}

// Apply checks c, naming the bad field, and returns p changed by it.
func (c PolicyChange) Apply(p VersionPolicy) (VersionPolicy, error) {
	var errs []error
	if c.DefaultSupportMonths < 0 || c.DefaultSupportMonths > MaxSupportMonths {
		errs = append(errs, validate.Field("default_support_months", "must be between 1 and %d (0 leaves it), got %d", MaxSupportMonths, c.DefaultSupportMonths))
	}
	if !c.EnforceFrom.IsZero() {
		if c.NeverEnforce {
			errs = append(errs, validate.Field("never_enforce", "contradicts enforce_from; send one of them"))
		}
		if y := c.EnforceFrom.UTC().Year(); y < 2000 || y > 9000 {
			errs = append(errs, validate.Field("enforce_from", "year %d is out of range", y))
		}
	}
	if len(errs) > 0 {
		return p, errors.Join(errs...)
	}
	if c.DefaultSupportMonths > 0 {
		p.DefaultSupportMonths = c.DefaultSupportMonths
	}
	switch {
	case c.NeverEnforce:
		p.EnforceFrom = time.Time{}
	case !c.EnforceFrom.IsZero():
		p.EnforceFrom = c.EnforceFrom.UTC().Truncate(time.Millisecond)
	}
	return p, nil
}

// VersionException is an exception as the signer keeps it.
type VersionException struct {
	versionpolicy.Exception
	Reason    string
	CreatedAt time.Time
	RemovedAt time.Time
}

// MaxExceptionReason bounds an exception's reason.
const MaxExceptionReason = 500

// NewException is an AddVersionException request.
type NewException struct {
	CustomerID, LicenseID, Version, Reason string
	Until                                  time.Time
}

// Check checks e at now, naming every bad field, and returns the exception
// to record (its line read from the version, its day in UTC).
func (e NewException) Check(now time.Time) (VersionException, error) {
	var errs []error
	switch {
	case e.CustomerID == "" && e.LicenseID == "":
		errs = append(errs, validate.Field("customer_id", "one of customer_id and license_id is required"))
	case e.CustomerID != "" && e.LicenseID != "":
		errs = append(errs, validate.Field("license_id", "give customer_id or license_id, not both"))
	case e.CustomerID != "" && !strings.HasPrefix(e.CustomerID, "cus_"):
		errs = append(errs, validate.Field("customer_id", "%q is not a customer id (cus_...)", e.CustomerID))
	case len(e.CustomerID) > 100 || len(e.LicenseID) > 100:
		errs = append(errs, validate.Field("license_id", "longer than 100 characters"))
	}
	line, err := versionpolicy.ParseLine(e.Version)
	switch {
	case e.Version == "":
		errs = append(errs, validate.Field("version", "required"))
	case err != nil:
		errs = append(errs, validate.Field("version", "%s (a release line such as 7.2, or a version of it)", err.Error()))
	}
	switch {
	case e.Until.IsZero():
		errs = append(errs, validate.Field("until", "required"))
	case versionpolicy.EndOfDay(e.Until).Before(now):
		errs = append(errs, validate.Field("until", "%s is past", e.Until.UTC().Format("2006-01-02")))
	case e.Until.UTC().Year() > 9000:
		errs = append(errs, validate.Field("until", "year %d is out of range", e.Until.UTC().Year()))
	}
	if len(e.Reason) > MaxExceptionReason {
		errs = append(errs, validate.Field("reason", "longer than %d characters", MaxExceptionReason))
	}
	if len(errs) > 0 {
		return VersionException{}, errors.Join(errs...)
	}
	u := e.Until.UTC()
	return VersionException{
		Exception: versionpolicy.Exception{
			CustomerID: e.CustomerID, LicenseID: e.LicenseID, Line: line,
			Until: time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC),
		},
		Reason: e.Reason,
	}, nil
}
