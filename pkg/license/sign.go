package license

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/keys"
)

// ErrNotV3 reports a string that is not a V3 license (no "RCV3_" prefix).
var ErrNotV3 = errors.New("license: not a V3 license")

// Sign validates d and returns the license string: Prefix followed by the JWT
// of d signed with key. The JWT carries no exp or nbf claim, ever: a
// workspace's JWT library would enforce them on its own, while validity is
// meant to follow the document's validPeriods and their behaviours.
func Sign(d *Document, key keys.Key) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if key.Algorithm != keys.AlgRS256 {
		return "", fmt.Errorf("license: key %q has algorithm %q, want %s", key.ID, key.Algorithm, keys.AlgRS256)
	}
	payload, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("license: encode document: %w", err)
	}
	tok, err := jws.Sign(key.Signer, key.ID, payload)
	if err != nil {
		return "", fmt.Errorf("license: %w", err)
	}
	return Prefix + tok, nil
}

// Verify checks the signature of lic with the key keyFor returns for its kid,
// then decodes and validates the document. Signature failures wrap the jws
// errors (jws.ErrBadSignature for a tampered license); a signed document that
// breaks the contract wraps ErrInvalid.
//
// Decoding is strict: unknown fields, trailing data, and missing required
// members are errors, so a verified Document never silently drops a signed claim.
func Verify(lic string, keyFor jws.KeyFunc) (*Document, jws.Header, error) {
	tok, ok := strings.CutPrefix(lic, Prefix)
	if !ok {
		return nil, jws.Header{}, ErrNotV3
	}
	h, payload, err := jws.Verify(tok, keyFor)
	if err != nil {
		return nil, jws.Header{}, fmt.Errorf("license: %w", err)
	}
	d, err := decode(payload)
	if err != nil {
		return nil, jws.Header{}, err
	}
	if err := d.Validate(); err != nil {
		return nil, jws.Header{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return d, h, nil
}

// VerifyWithKey is Verify trusting pub whatever the kid, as a workspace does
// with the one key its build carries.
func VerifyWithKey(lic string, pub *rsa.PublicKey) (*Document, error) {
	d, _, err := Verify(lic, func(string) (*rsa.PublicKey, error) { return pub, nil })
	return d, err
}

// ParseUnverified decodes lic without checking its signature or validating
// the document, for tools that show what a license claims. Nothing it returns
// may be trusted. The header is returned whenever the token parses, even if the
// document does not decode.
func ParseUnverified(lic string) (*Document, jws.Header, error) {
	tok, ok := strings.CutPrefix(lic, Prefix)
	if !ok {
		return nil, jws.Header{}, ErrNotV3
	}
	h, payload, err := jws.ParseUnverified(tok)
	if err != nil {
		return nil, jws.Header{}, fmt.Errorf("license: %w", err)
	}
	d, err := decode(payload)
	if err != nil {
		return nil, h, err
	}
	return d, h, nil
}

// KeyID reads only the kid in lic's header, unverified: which key signed
// it, for a holder that shows or fetches that key.
func KeyID(lic string) (string, error) {
	tok, ok := strings.CutPrefix(lic, Prefix)
	if !ok {
		return "", ErrNotV3
	}
	h, err := jws.HeaderOf(tok)
	if err != nil {
		return "", fmt.Errorf("license: %w", err)
	}
	return h.Kid, nil
}

// ReadLimits reads only the limits of lic, without checking its signature or
// the rest of its document: for a holder that already trusts where the
// license came from and reports usage against its limits, at a fraction of
// ParseUnverified's cost.
func ReadLimits(lic string) (Limits, error) {
	tok, ok := strings.CutPrefix(lic, Prefix)
	if !ok {
		return Limits{}, ErrNotV3
	}
	_, payload, err := jws.ParseUnverified(tok)
	if err != nil {
		return Limits{}, fmt.Errorf("license: %w", err)
	}
	var d struct {
		Limits Limits `json:"limits"`
	}
	if err := json.Unmarshal(payload, &d); err != nil {
		return Limits{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return d.Limits, nil
}

// decode strictly decodes a document payload.
func decode(payload []byte) (*Document, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var d Document
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the document", ErrInvalid)
	}
	if err := requireMembers(payload); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return &d, nil
}

// required lists, per object path, the members a workspace reads without
// checking for them. Struct decoding cannot tell a missing boolean or array
// from its zero value, so their presence is checked on the raw JSON.
var required = []struct {
	path    []string
	members []string
}{
	{nil, []string{"version", "information", "validation", "grantedModules", "limits"}},
	{[]string{"information"}, []string{"id", "autoRenew", "trial", "offline", "createdAt", "grantedBy"}},
	{[]string{"information", "grantedBy"}, []string{"method"}},
	{[]string{"validation"}, []string{"serverUrls", "validPeriods", "statisticsReport"}},
	{[]string{"validation", "statisticsReport"}, []string{"required"}},
}

func requireMembers(payload []byte) error {
	var errs []error
	// Each object is decoded once, however many lists look into it.
	objects := map[string]map[string]json.RawMessage{}
	var object func(path []string) map[string]json.RawMessage
	object = func(path []string) map[string]json.RawMessage {
		key := strings.Join(path, ".")
		if m, ok := objects[key]; ok {
			return m
		}
		raw := json.RawMessage(payload)
		if len(path) > 0 {
			raw = object(path[:len(path)-1])[path[len(path)-1]]
		}
		var m map[string]json.RawMessage
		_ = json.Unmarshal(raw, &m) // already decoded once; a non-object leaves m nil
		objects[key] = m
		return m
	}
	for _, r := range required {
		m := object(r.path)
		if m == nil {
			continue // the parent's own check reports it missing or null
		}
		for _, name := range r.members {
			if v, ok := m[name]; !ok || string(v) == "null" {
				errs = append(errs, &FieldError{Path: strings.Join(slices.Concat(r.path, []string{name}), "."), Problem: "is required"})
			}
		}
	}
	return errors.Join(errs...)
}
