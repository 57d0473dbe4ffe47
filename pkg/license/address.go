package license

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

// StripAddress reduces a site address the way a workspace does before
// comparing it with serverUrls: trim spaces, drop one leading "http://" or
// "https://" (any case) and one trailing "/", and lower-case the rest.
// The authority binds licenses to this form.
func StripAddress(address string) string {
	s := strings.TrimSpace(address)
	for _, scheme := range [...]string{"https://", "http://"} {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			s = s[len(scheme):]
			break
		}
	}
	return strings.ToLower(strings.TrimSuffix(s, "/"))
}

// Matches reports whether address (as reported, before StripAddress) satisfies s:
//   - url: the stripped address equals the lower-cased value;
//   - regex: the value matches the whole stripped address, case-insensitively,
//     with "." literal and "*" standing for any run of characters (any other
//     character is literal too; Validate rejects values that use them, because a
//     workspace would read them as regular expression syntax);
//   - hash: the value is the lower-case hex SHA-256 of the stripped address.
//
// An unknown type never matches.
func (s ServerURL) Matches(address string) bool {
	addr := StripAddress(address)
	switch s.Type {
	case URLTypeURL:
		return strings.ToLower(s.Value) == addr
	case URLTypeRegex:
		parts := strings.Split(s.Value, "*")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		re, err := regexp.Compile(`(?i)^` + strings.Join(parts, ".*") + `$`)
		return err == nil && re.MatchString(addr)
	case URLTypeHash:
		sum := sha256.Sum256([]byte(addr))
		return s.Value == hex.EncodeToString(sum[:])
	}
	return false
}

// MatchesAddress reports whether address satisfies every serverUrls entry, as a
// workspace requires. A license with no entries is bound to no address and
// matches any.
func (d *Document) MatchesAddress(address string) bool {
	for _, u := range d.Validation.ServerURLs {
		if !u.Matches(address) {
			return false
		}
	}
	return true
}
