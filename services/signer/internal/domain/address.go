package domain

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/validate"
)

// MaxAddressLength bounds a stripped site address.
const MaxAddressLength = 255

// ParseAddress returns the site address a workspace reported, stripped the
// way the workspace strips it before comparing it with serverUrls, so the
// license binds to exactly what the workspace will compare. An empty report
// is "" (no address); anything else must strip to a usable url value.
func ParseAddress(reported string) (string, error) {
	if reported == "" {
		return "", nil
	}
	addr := license.StripAddress(reported)
	switch {
	case addr == "":
		return "", invalidAddress("empty once the scheme and trailing slash are removed")
	case strings.IndexFunc(addr, unicode.IsSpace) >= 0:
		return "", invalidAddress("contains spaces")
	case strings.IndexFunc(addr, unicode.IsControl) >= 0:
		return "", invalidAddress("contains control characters")
	case len(addr) > MaxAddressLength:
		return "", invalidAddress(fmt.Sprintf("longer than %d characters", MaxAddressLength))
	// A url value with a scheme or a trailing slash could never match what a
	// workspace compares, and the license library refuses to sign it.
	case strings.Contains(addr, "://"):
		return "", invalidAddress("carries more than one scheme")
	case strings.HasSuffix(addr, "/"):
		return "", invalidAddress("ends with more than one slash")
	}
	return addr, nil
}

func invalidAddress(why string) error {
	return fmt.Errorf("%w: %w", ErrInvalidAddress, validate.Field("address", "%s", why))
}
