package domain

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/validate"
	"github.com/cloudlicense/authority/pkg/versionpolicy"
)

// Support windows of a release, in months.
const (
	DefaultSupportMonths = versionpolicy.DefaultSupportMonths
	MaxSupportMonths     = versionpolicy.MaxSupportMonths
)

// Release is a workspace release and how long it is supported
// (PROTOCOL.md 7).
type Release struct {
	Version    string // "MAJOR.MINOR.PATCH"
	ReleasedAt time.Time
	// SupportMonths is the release's own window; 0 follows the version
	// policy's default.
	SupportMonths int
	// UpdatedAt is when the release was last recorded or changed.
	UpdatedAt time.Time
}

var releaseVersion = regexp.MustCompile(`^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$`)

// CheckRelease checks a release to record, naming the bad field. A zero
// SupportMonths follows the policy's default window; the release time is
// kept in UTC to the millisecond, the finest instant the document carries.
func CheckRelease(r Release) (Release, error) {
	var errs []error
	if r.Version == "" {
		errs = append(errs, validate.Field("version", "required"))
	} else if !releaseVersion.MatchString(r.Version) {
		errs = append(errs, validate.Field("version", "%q is not MAJOR.MINOR.PATCH (e.g. 7.2.0)", r.Version))
	}
	if r.ReleasedAt.IsZero() {
		errs = append(errs, validate.Field("released_at", "required"))
	} else if y := r.ReleasedAt.UTC().Year(); y < 2000 || y > 9000 {
		errs = append(errs, validate.Field("released_at", "year %d is out of range", y))
	}
	if r.SupportMonths < 0 || r.SupportMonths > MaxSupportMonths {
		errs = append(errs, validate.Field("support_months", "must be between 1 and %d (0: the policy's default), got %d", MaxSupportMonths, r.SupportMonths))
	}
	if len(errs) > 0 {
		return r, errors.Join(errs...)
	}
	r.ReleasedAt = r.ReleasedAt.UTC().Truncate(time.Millisecond)
	return r, nil
}

// CompareVersions orders "MAJOR.MINOR.PATCH" versions numerically.
func CompareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(pa), len(pb)) {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if c := cmp.Compare(x, y); c != 0 {
			return c
		}
	}
	return cmp.Compare(a, b)
}

// SupportedVersion is one entry of the document's "versions".
type SupportedVersion struct {
	Version    string `json:"version"`
	Expiration string `json:"expiration"`
}

// SupportedVersions is the supported-versions document without its
// signature.
type SupportedVersions struct {
	Timestamp string             `json:"timestamp"`
	Versions  []SupportedVersion `json:"versions"`
	// Exceptions is set only in a document for one workspace.
	Exceptions *WorkspaceExceptions `json:"exceptions,omitempty"`
}

// WorkspaceExceptions is the document's "exceptions" (PROTOCOL.md 7): the
// releases whose support an exception extends for one workspace, with the
// extended expiration.
type WorkspaceExceptions struct {
	Domain   string             `json:"domain"`
	UniqueID string             `json:"uniqueId"`
	Versions []SupportedVersion `json:"versions"`
}

// WithExceptions returns doc for one workspace: every recorded release of a
// line one of exceptions covers, expiring at the end of the exception's day
// (the latest, when several cover it) where that is later than its own
// expiration. With none to list, doc is returned as it is.
func (doc SupportedVersions) WithExceptions(domain, uniqueID string, releases []Release, exceptions []VersionException) SupportedVersions {
	expires := map[string]string{}
	for _, v := range doc.Versions {
		expires[v.Version] = v.Expiration
	}
	sorted := slices.Clone(releases)
	slices.SortFunc(sorted, func(a, b Release) int { return CompareVersions(a.Version, b.Version) })
	var out []SupportedVersion
	for _, r := range sorted {
		v, err := versionpolicy.ParseVersion(r.Version)
		if err != nil {
			continue
		}
		var end time.Time
		for _, e := range exceptions {
			if e.Line == v.Line() && e.End().After(end) {
				end = e.End()
			}
		}
		if end.IsZero() {
			continue
		}
		if exp := license.FormatTime(end); exp > expires[r.Version] {
			out = append(out, SupportedVersion{Version: r.Version, Expiration: exp})
		}
	}
	if len(out) > 0 {
		doc.Exceptions = &WorkspaceExceptions{Domain: domain, UniqueID: uniqueID, Versions: out}
	}
	return doc
}

// signedSupportedVersions is the document as served: the unsigned members
// and "signed".
type signedSupportedVersions struct {
	SupportedVersions
	Signed string `json:"signed"`
}

// supportedVersionsClaims is the JWT's payload: the document without
// "signed", plus "iat".
type supportedVersionsClaims struct {
	SupportedVersions
	IssuedAt int64 `json:"iat"`
}

// NewSupportedVersions builds the document of releases under policy: every
// release, oldest version first, with the end of its support; timestamp is
// the newest change to any release or to the policy (now when there is
// none).
func NewSupportedVersions(releases []Release, policy VersionPolicy, now time.Time) SupportedVersions {
	rules := policy.Rules(releases, nil)
	sorted := slices.Clone(releases)
	slices.SortFunc(sorted, func(a, b Release) int { return CompareVersions(a.Version, b.Version) })
	newest := policy.UpdatedAt
	doc := SupportedVersions{Versions: make([]SupportedVersion, 0, len(sorted))}
	for _, r := range sorted {
		doc.Versions = append(doc.Versions, SupportedVersion{Version: r.Version, Expiration: license.FormatTime(rules.Expiration(r.rule()))})
		if r.UpdatedAt.After(newest) {
			newest = r.UpdatedAt
		}
	}
	if newest.IsZero() {
		newest = now
	}
	doc.Timestamp = license.FormatTime(newest)
	return doc
}

// SignSupportedVersions signs doc with key: "signed" is an RS256 JWT (kid
// in its header) whose payload is the document without "signed", plus "iat"
// (now); it has no "exp". It returns the whole document as JSON and the JWT.
func SignSupportedVersions(doc SupportedVersions, now time.Time, key keys.Key) (document []byte, signed string, err error) {
	payload, err := json.Marshal(supportedVersionsClaims{SupportedVersions: doc, IssuedAt: now.Unix()})
	if err != nil {
		return nil, "", fmt.Errorf("supported versions: %w", err)
	}
	signed, err = jws.Sign(key.Signer, key.ID, payload)
	if err != nil {
		return nil, "", fmt.Errorf("sign supported versions: %w", err)
	}
	document, err = json.Marshal(signedSupportedVersions{SupportedVersions: doc, Signed: signed})
	if err != nil {
		return nil, "", fmt.Errorf("supported versions: %w", err)
	}
	return document, signed, nil
}
