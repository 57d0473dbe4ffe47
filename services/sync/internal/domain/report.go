package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/validate"
)

// Report is the usage a workspace reports on sync (its registration data,
// PROTOCOL.md section 1).
type Report struct {
	UniqueID              string
	Address               string
	Version               string
	Seats                 int64
	MonthlyActiveContacts int64
	SiteName              string
	ConnectionDisabled    bool
	// Raw is the whole registration data as sent, kept for the history.
	Raw string
}

// Upper bounds on what a plausible workspace sends; beyond them the report is
// garbage and would only bloat the history.
const (
	maxIDLen      = 256
	maxAddressLen = 2048
	maxVersionLen = 128
	maxSiteName   = 1024
	// maxRaw bounds the stored registration data: a real one is a few
	// kilobytes, and the history keeps every report.
	maxRaw = 64 << 10
)

// Normalize trims the fields workspaces pad and drops NUL characters, which
// Postgres text cannot hold, from the free-text site name.
func (r Report) Normalize() Report {
	r.UniqueID = strings.TrimSpace(r.UniqueID)
	r.Address = strings.TrimSpace(r.Address)
	r.Version = strings.TrimSpace(r.Version)
	r.SiteName = strings.ToValidUTF8(strings.ReplaceAll(r.SiteName, "\x00", ""), "")
	return r
}

// Validate names every bad field with the protocol's field name, so the
// gateway can answer invalid_registration_data naming it.
func (r Report) Validate() error {
	var errs []error
	required := func(field, value string, limit int) {
		switch {
		case value == "":
			errs = append(errs, validate.Field(field, "required"))
		case len(value) > limit:
			errs = append(errs, validate.Field(field, "longer than %d characters", limit))
		case strings.ContainsRune(value, 0) || !utf8.ValidString(value):
			errs = append(errs, validate.Field(field, "contains invalid characters"))
		}
	}
	required("uniqueId", r.UniqueID, maxIDLen)
	required("address", r.Address, maxAddressLen)
	if r.Address != "" && license.StripAddress(r.Address) == "" {
		errs = append(errs, validate.Field("address", "has no host"))
	}
	required("version", r.Version, maxVersionLen)
	if r.Seats < 0 {
		errs = append(errs, validate.Field("seats", "must be an integer >= 0"))
	}
	if r.MonthlyActiveContacts < 0 {
		errs = append(errs, validate.Field("MAC", "must be an integer >= 0"))
	}
	if len(r.SiteName) > maxSiteName {
		errs = append(errs, validate.Field("siteName", "longer than %d characters", maxSiteName))
	}
	return errors.Join(errs...)
}

// RawJSON returns the registration data to keep, or nil when it is not valid
// JSON or larger than any real one. A \u0000 escape is valid JSON that Postgres jsonb refuses, so such a
// document is dropped too rather than failing the sync.
func (r Report) RawJSON() []byte {
	raw := []byte(r.Raw)
	if len(bytes.TrimSpace(raw)) == 0 || len(raw) > maxRaw || !json.Valid(raw) || bytes.Contains(raw, []byte(`\u0000`)) {
		return nil
	}
	return raw
}
