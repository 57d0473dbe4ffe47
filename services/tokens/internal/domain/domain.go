// Package domain holds the token service's rules: what a registration token,
// a client credential and an access token are, the scopes a workspace may
// hold, and the errors the service can return. No gRPC or SQL here.
package domain

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"
)

// Errors of the token service, mapped to gRPC codes at the boundary.
var (
	ErrTokenUnknown       = errors.New("registration token unknown")
	ErrTokenExpired       = errors.New("registration token expired")
	ErrTokenUsedUp        = errors.New("registration token already used up")
	ErrTokenRevoked       = errors.New("registration token revoked")
	ErrTokenNotFound      = errors.New("registration token not found")
	ErrAlreadyRedeemed    = errors.New("workspace already redeemed a registration token")
	ErrInvalidCredentials = errors.New("invalid client credentials")
	ErrInvalidScope       = errors.New("none of the requested scopes is allowed")
	ErrInvalidAPIKey      = errors.New("invalid API key")
	ErrCustomerNotFound   = errors.New("customer not found")
	ErrPlanNotFound       = errors.New("plan not found")
	ErrCredentialNotFound = errors.New("client credential not found")
)

// WorkspaceScopes are the scopes a registered workspace may hold; a stock
// workspace asks for all of them by default.
var WorkspaceScopes = []string{
	"workspace:license:read", "workspace:client:write", "workspace:stats:write",
	"workspace:push:send", "marketplace:read", "marketplace:download", "fedhub:register",
}

// GrantScopes returns the requested scopes that allowed contains, in request
// order; an empty request means every allowed scope. A request naming only
// scopes the workspace may not hold is ErrInvalidScope.
func GrantScopes(requested string, allowed []string) ([]string, error) {
	fields := strings.Fields(requested)
	if len(fields) == 0 {
		return slices.Clone(allowed), nil
	}
	var granted []string
	for _, s := range fields {
		if slices.Contains(allowed, s) && !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	if len(granted) == 0 {
		return nil, ErrInvalidScope
	}
	return granted, nil
}

// Token limits.
const (
	DefaultTokenTTL = 7 * 24 * time.Hour
	MaxTokenTTL     = 365 * 24 * time.Hour
	MaxTokenUses    = 100000
)

// NewSecret returns 256 random bits, base64url encoded, with a prefix that
// says what the secret is when it turns up somewhere it should not.
func NewSecret(prefix string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // the platform is broken; nothing safe to do
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// NewID returns a short random identifier with prefix.
func NewID(prefix string) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return prefix + hex.EncodeToString(b)
}

// Hash is how secrets are stored. Secrets carry 256 random bits, so a fast
// hash suffices: there is no dictionary to try.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Secret prefixes.
const (
	PrefixRegistrationToken = "rt_"
	PrefixClientSecret      = "cs_"
	PrefixAPIKey            = "lak_"
)

// RegistrationToken is a stored token (never its secret).
type RegistrationToken struct {
	ID         string
	CustomerID string
	PlanID     string
	MaxUses    int32
	Uses       int32
	ExpiresAt  time.Time
	CreatedAt  time.Time
	RevokedAt  *time.Time
}

// Why explains why t cannot be redeemed at now, or nil.
func (t RegistrationToken) Why(now time.Time) error {
	switch {
	case t.RevokedAt != nil:
		return ErrTokenRevoked
	case !now.Before(t.ExpiresAt):
		return ErrTokenExpired
	case t.Uses >= t.MaxUses:
		return ErrTokenUsedUp
	}
	return nil
}

// Redemption is what a successful redemption yields.
type Redemption struct {
	TokenID      string
	CustomerID   string
	PlanID       string
	ClientID     string
	ClientSecret string
}

// APIKey is an internal caller's key (never its secret).
type APIKey struct {
	ID   string
	Name string
	Role string
}
