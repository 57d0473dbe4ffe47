package domain_test

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cloudlicense/authority/pkg/validate"
	"github.com/cloudlicense/authority/services/registry/internal/domain"
)

func TestTokenRegistrationValidate(t *testing.T) {
	t.Parallel()
	good := domain.TokenRegistration{Token: "rt_x", Email: "admin@example.com", ClientName: "Chat", RedirectURIs: []string{"https://chat.example.com/cb"}}
	tests := []struct {
		name   string
		edit   func(*domain.TokenRegistration)
		fields []string
	}{
		{"valid", func(*domain.TokenRegistration) {}, nil},
		{"no email is fine", func(r *domain.TokenRegistration) { r.Email = "" }, nil},
		{"no redirect URIs is fine", func(r *domain.TokenRegistration) { r.RedirectURIs = nil }, nil},
		{"named address", func(r *domain.TokenRegistration) { r.Email = "Admin <admin@example.com>" }, nil},
		{"no token", func(r *domain.TokenRegistration) { r.Token = " " }, []string{"registration_token"}},
		{"bad email", func(r *domain.TokenRegistration) { r.Email = "not-an-email" }, []string{"email"}},
		{"client name too long", func(r *domain.TokenRegistration) { r.ClientName = strings.Repeat("x", 257) }, []string{"client_name"}},
		{"relative redirect", func(r *domain.TokenRegistration) { r.RedirectURIs = []string{"/callback"} }, []string{"redirect_uris"}},
		{"redirect without host", func(r *domain.TokenRegistration) { r.RedirectURIs = []string{"https://"} }, []string{"redirect_uris"}},
		{"redirect not a URL", func(r *domain.TokenRegistration) { r.RedirectURIs = []string{"https://ok.example.com", "::nope"} }, []string{"redirect_uris"}},
		{"several bad fields", func(r *domain.TokenRegistration) { r.Token, r.Email = "", "x" }, []string{"registration_token", "email"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := good
			tt.edit(&r)
			err := r.Validate()
			if len(tt.fields) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, validate.ErrInvalid) {
				t.Fatalf("Validate = %v, want a validation error", err)
			}
			var got []string
			for _, f := range validate.Fields(err) {
				got = append(got, f.Field)
			}
			if !slices.Equal(got, tt.fields) {
				t.Fatalf("fields = %q, want %q", got, tt.fields)
			}
		})
	}
}

func TestNewWorkspaceID(t *testing.T) {
	t.Parallel()
	shape := regexp.MustCompile(`^[0-9a-f]{24}$`) // a Mongo ObjectId, as stock clients expect
	seen := map[string]bool{}
	for range 1000 {
		id := domain.NewWorkspaceID()
		if !shape.MatchString(id) || seen[id] {
			t.Fatalf("workspace id %q: bad shape or repeated", id)
		}
		seen[id] = true
	}
}
