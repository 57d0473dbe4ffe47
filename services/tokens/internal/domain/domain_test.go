package domain_test

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudlicense/authority/services/tokens/internal/domain"
)

func TestGrantScopes(t *testing.T) {
	t.Parallel()
	allowed := []string{"workspace:license:read", "workspace:stats:write", "marketplace:read"}
	tests := []struct {
		name      string
		requested string
		want      []string
		wantErr   error
	}{
		{name: "empty means every allowed scope", requested: "", want: allowed},
		{name: "blank means every allowed scope", requested: "  \t ", want: allowed},
		{name: "one allowed", requested: "marketplace:read", want: []string{"marketplace:read"}},
		{name: "request order kept", requested: "marketplace:read workspace:license:read", want: []string{"marketplace:read", "workspace:license:read"}},
		{name: "unknown dropped", requested: "workspace:license:read admin:everything", want: []string{"workspace:license:read"}},
		{name: "duplicates collapsed", requested: "marketplace:read marketplace:read", want: []string{"marketplace:read"}},
		{name: "extra whitespace", requested: "  workspace:stats:write\t\tmarketplace:read ", want: []string{"workspace:stats:write", "marketplace:read"}},
		{name: "only unknown is invalid", requested: "admin:everything fedhub:register", wantErr: domain.ErrInvalidScope},
		{name: "case matters", requested: "WORKSPACE:LICENSE:READ", wantErr: domain.ErrInvalidScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := domain.GrantScopes(tt.requested, allowed)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("GrantScopes(%q) error = %v, want %v", tt.requested, err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("GrantScopes(%q) = %q, want %q", tt.requested, got, tt.want)
			}
		})
	}
}

// The "everything" grant must be a copy: a caller appending to or editing it
// must not change what every later workspace may hold.
func TestGrantScopesEmptyReturnsCopy(t *testing.T) {
	t.Parallel()
	allowed := []string{"a", "b"}
	got, err := domain.GrantScopes("", allowed)
	if err != nil {
		t.Fatal(err)
	}
	got[0] = "changed"
	if allowed[0] != "a" {
		t.Fatalf("GrantScopes returned the allowed slice itself")
	}
}

func TestWorkspaceScopesAreTheProtocolDefaults(t *testing.T) {
	t.Parallel()
	// PROTOCOL.md 3: what a stock workspace asks for by default.
	defaults := "workspace:license:read workspace:client:write workspace:stats:write workspace:push:send marketplace:read marketplace:download fedhub:register"
	got, err := domain.GrantScopes(defaults, domain.WorkspaceScopes)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Fields(defaults); !slices.Equal(got, want) {
		t.Fatalf("granted %q, want every default scope %q", got, want)
	}
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, prefix := range []string{domain.PrefixRegistrationToken, domain.PrefixClientSecret, domain.PrefixAPIKey} {
		for range 500 {
			s := domain.NewSecret(prefix)
			rest, ok := strings.CutPrefix(s, prefix)
			if !ok {
				t.Fatalf("secret %q lacks prefix %q", s, prefix)
			}
			raw, err := base64.RawURLEncoding.DecodeString(rest)
			if err != nil {
				t.Fatalf("secret %q is not base64url after its prefix: %v", s, err)
			}
			if bits := len(raw) * 8; bits < 128 {
				t.Fatalf("secret carries %d random bits, want at least 128", bits)
			}
			if seen[s] {
				t.Fatalf("secret %q repeated", s)
			}
			seen[s] = true
		}
	}
}

func TestHashIsHexSHA256AndNotTheSecret(t *testing.T) {
	t.Parallel()
	s := domain.NewSecret(domain.PrefixClientSecret)
	h := domain.Hash(s)
	if len(h) != 64 || strings.Contains(h, s) || h != strings.ToLower(h) {
		t.Fatalf("Hash(%q) = %q, want 64 lower-case hex digits", s, h)
	}
	if domain.Hash(s) != h {
		t.Fatal("Hash is not deterministic")
	}
}

func TestRegistrationTokenWhy(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	revoked := now.Add(-time.Minute)
	live := domain.RegistrationToken{MaxUses: 3, Uses: 1, ExpiresAt: now.Add(time.Hour)}
	tests := []struct {
		name string
		edit func(*domain.RegistrationToken)
		want error
	}{
		{"redeemable", func(*domain.RegistrationToken) {}, nil},
		{"last use left", func(t *domain.RegistrationToken) { t.Uses = 2 }, nil},
		{"used up", func(t *domain.RegistrationToken) { t.Uses = 3 }, domain.ErrTokenUsedUp},
		{"expires now", func(t *domain.RegistrationToken) { t.ExpiresAt = now }, domain.ErrTokenExpired},
		{"expired", func(t *domain.RegistrationToken) { t.ExpiresAt = now.Add(-time.Second) }, domain.ErrTokenExpired},
		{"revoked", func(t *domain.RegistrationToken) { t.RevokedAt = &revoked }, domain.ErrTokenRevoked},
		{"revoked wins over expired and used up", func(t *domain.RegistrationToken) {
			t.RevokedAt, t.ExpiresAt, t.Uses = &revoked, now.Add(-time.Hour), 3
		}, domain.ErrTokenRevoked},
		{"expired wins over used up", func(t *domain.RegistrationToken) { t.ExpiresAt, t.Uses = now.Add(-time.Hour), 3 }, domain.ErrTokenExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok := live
			tt.edit(&tok)
			if got := tok.Why(now); !errors.Is(got, tt.want) || (tt.want == nil && got != nil) {
				t.Fatalf("Why = %v, want %v", got, tt.want)
			}
		})
	}
}
