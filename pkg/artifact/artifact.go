// Package artifact verifies the authority's signed artifacts offline (a V3
// license, the signed supported-versions document) against a published
// keyset, and explains what it found: which key signed, whether the
// signature holds, whether the key was allowed to sign then and may still
// be trusted, and whether the artifact is valid at a given time. Proof of
// inclusion in the issuance log plugs in through InclusionVerifier.
package artifact

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/license"
)

// Kinds of artifact.
const (
	KindLicense           = "license"
	KindSupportedVersions = "supported-versions"
)

// InclusionVerifier checks a proof that an artifact is in the issuance log.
// The log's own package implements it; without one, a proof is reported as
// not checked.
type InclusionVerifier interface {
	VerifyInclusion(artifact, proof []byte) error
}

// Options of a check.
type Options struct {
	// At is the instant validity is judged at; zero is now.
	At time.Time
	// Address, when set, must be a site address the license is bound to.
	Address string
	// Proof and Inclusion check log inclusion when both are set.
	Proof     []byte
	Inclusion InclusionVerifier
}

// Report is what a check found. OK is the verdict; Findings explain it in
// order, each a line for a person.
type Report struct {
	Kind     string    `json:"kind"`
	KeyID    string    `json:"kid"`
	KeyState string    `json:"keyState,omitempty"`
	SignedAt time.Time `json:"signedAt,omitzero"`
	At       time.Time `json:"at"`
	OK       bool      `json:"ok"`
	Findings []string  `json:"findings"`
	Problems []string  `json:"problems,omitempty"`
	// License is the license's summary when the artifact is a license
	// whose signature verified.
	License *license.Summary `json:"license,omitempty"`
}

func (r *Report) ok(format string, a ...any) {
	r.Findings = append(r.Findings, fmt.Sprintf(format, a...))
}

func (r *Report) bad(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	r.Findings = append(r.Findings, msg)
	r.Problems = append(r.Problems, msg)
}

// ErrUnknownFormat reports input that is neither an RCV3_ license nor a
// supported-versions document (nor its bare JWT).
var ErrUnknownFormat = errors.New("artifact: not a license (RCV3_...) or a supported-versions document")

// Check verifies raw against keyset. The error is only for input that is
// not an artifact at all; every other failure is in the report.
func Check(raw []byte, keyset []keys.PublicKey, opts Options) (Report, error) {
	at := opts.At
	if at.IsZero() {
		at = time.Now()
	}
	r := Report{At: at.UTC()}
	text := strings.TrimSpace(string(raw))
	var doc *license.Document
	var err error
	switch {
	case strings.HasPrefix(text, license.Prefix):
		r.Kind = KindLicense
		doc, err = r.checkLicense(text, keyset)
	case strings.HasPrefix(text, "{"):
		r.Kind = KindSupportedVersions
		err = r.checkVersions([]byte(text), keyset)
	case strings.Count(text, ".") == 2:
		r.Kind = KindSupportedVersions
		err = r.checkVersionsJWT(text, nil, keyset)
	default:
		return r, ErrUnknownFormat
	}
	if err != nil {
		return r, err
	}
	if doc != nil && len(r.Problems) == 0 {
		sum := doc.Summarize(at)
		r.License = &sum
		if sum.Valid {
			r.ok("license valid at %s", at.UTC().Format(time.RFC3339))
		} else {
			r.bad("license not valid at %s: %s", at.UTC().Format(time.RFC3339), strings.Join(sum.Problems, "; "))
		}
		if opts.Address != "" {
			if doc.MatchesAddress(opts.Address) {
				r.ok("bound to %q", opts.Address)
			} else {
				r.bad("not bound to address %q", opts.Address)
			}
		}
	}
	switch {
	case len(opts.Proof) == 0:
		r.ok("log inclusion: no proof given, not checked")
	case opts.Inclusion == nil:
		r.ok("log inclusion: a proof was given, but no proof checker was supplied")
	default:
		if err := opts.Inclusion.VerifyInclusion([]byte(text), opts.Proof); err != nil {
			r.bad("log inclusion: proof does NOT verify: %v", err)
		} else {
			r.ok("log inclusion: proof verifies")
		}
	}
	r.OK = len(r.Problems) == 0
	return r, nil
}

// keyFor finds kid in keyset and judges it, recording the findings; it
// returns the key to check the signature with (nil when there is none).
func (r *Report) keyFor(kid string, keyset []keys.PublicKey) *keys.PublicKey {
	r.KeyID = kid
	if kid == "" && len(keyset) == 1 {
		// A bare public key (a workspace's PUBLIC_LICENSE_KEY_V2) has no id.
		return &keyset[0]
	}
	for i, k := range keyset {
		if k.ID == kid || (k.ID == "" && len(keyset) == 1) {
			r.KeyState = string(k.State)
			return &keyset[i]
		}
	}
	r.bad("signed by key %q, which the keyset does not hold (unknown, expired or revoked)", kid)
	return nil
}

// judgeKey checks the key's state and windows once the signature holds.
func (r *Report) judgeKey(k *keys.PublicKey) {
	if k.State != "" {
		r.ok("key %s is %s", orUnnamed(k.ID), k.State)
	}
	if err := k.CheckWindow(r.SignedAt, r.At); err != nil {
		r.bad("key window: %v", err)
		return
	}
	switch {
	case k.NotBefore.IsZero() && k.RetiredAt.IsZero() && k.NotAfter.IsZero():
		r.ok("key window: none published")
	default:
		r.ok("key window: signs %s .. %s, verifies until %s", timeOr(k.NotBefore, "(start)"), timeOr(k.RetiredAt, "now"), timeOr(k.NotAfter, "further notice"))
	}
}

func (r *Report) checkLicense(text string, keyset []keys.PublicKey) (*license.Document, error) {
	_, h, perr := license.ParseUnverified(text)
	if h.Alg == "" {
		return nil, fmt.Errorf("%w: %v", ErrUnknownFormat, perr)
	}
	k := r.keyFor(h.Kid, keyset)
	if k == nil {
		return nil, nil
	}
	doc, _, err := license.Verify(text, func(string) (*rsa.PublicKey, error) { return k.Key, nil })
	if err != nil {
		r.bad("signature or document does NOT verify with key %s: %v", orUnnamed(k.ID), err)
		return nil, nil
	}
	r.ok("signature verifies with key %s (RS256)", orUnnamed(k.ID))
	if t, err := license.ParseTime(doc.Information.CreatedAt); err == nil {
		r.SignedAt = t
	}
	r.judgeKey(k)
	return doc, nil
}

func (r *Report) checkVersions(data []byte, keyset []keys.PublicKey) error {
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(data, &outer); err != nil {
		return fmt.Errorf("%w: %v", ErrUnknownFormat, err)
	}
	var signed string
	if err := json.Unmarshal(outer["signed"], &signed); err != nil || signed == "" {
		return fmt.Errorf(`%w: the JSON document has no "signed" string`, ErrUnknownFormat)
	}
	delete(outer, "signed")
	return r.checkVersionsJWT(signed, outer, keyset)
}

// checkVersionsJWT verifies the supported-versions JWT and, when the
// document it came in is given, that the document says what was signed.
func (r *Report) checkVersionsJWT(token string, outer map[string]json.RawMessage, keyset []keys.PublicKey) error {
	h, _, err := jws.ParseUnverified(token)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnknownFormat, err)
	}
	k := r.keyFor(h.Kid, keyset)
	if k == nil {
		return nil
	}
	_, payload, err := jws.Verify(token, func(string) (*rsa.PublicKey, error) { return k.Key, nil })
	if err != nil {
		r.bad("signature does NOT verify with key %s: %v", orUnnamed(k.ID), err)
		return nil
	}
	r.ok("signature verifies with key %s (RS256)", orUnnamed(k.ID))
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		r.bad("signed payload is not a JSON object")
		return nil
	}
	var iat int64
	if v, ok := claims["iat"]; ok && json.Unmarshal(v, &iat) == nil && iat > 0 {
		r.SignedAt = time.Unix(iat, 0).UTC()
		r.ok("signed at %s", r.SignedAt.Format(time.RFC3339))
	}
	delete(claims, "iat")
	if outer != nil {
		if equalMembers(outer, claims) {
			r.ok("the document's members are exactly the signed ones")
		} else {
			r.bad("the document differs from what was signed (tampered, or members added after signing)")
		}
	}
	r.judgeKey(k)
	return nil
}

// equalMembers compares two objects member by member, each member's JSON
// compacted, so whitespace does not count but any change of value does.
func equalMembers(a, b map[string]json.RawMessage) bool {
	return maps.EqualFunc(a, b, func(x, y json.RawMessage) bool {
		var cx, cy bytes.Buffer
		if json.Compact(&cx, x) != nil || json.Compact(&cy, y) != nil {
			return false
		}
		return bytes.Equal(cx.Bytes(), cy.Bytes())
	})
}

func orUnnamed(kid string) string {
	if kid == "" {
		return "(the given public key)"
	}
	return kid
}

func timeOr(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.RFC3339)
}
