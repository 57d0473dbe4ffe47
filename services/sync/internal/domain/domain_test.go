package domain_test

import (
	"strings"
	"testing"

	"github.com/cloudlicense/authority/services/sync/internal/domain"
)

func TestNeedsLicense(t *testing.T) {
	held := domain.View{License: "RCV3_x", LicenseAddress: "chat.example.com"}
	tests := []struct {
		name    string
		view    domain.View
		address string
		want    bool
	}{
		{"no license", domain.View{}, "chat.example.com", true},
		{"same site", held, "chat.example.com", false},
		{"same site, scheme, case and slash", held, " HTTPS://Chat.Example.com/ ", false},
		{"another site", held, "chat.example.org", true},
		{"another port", held, "chat.example.com:3000", true},
		{"license bound before any address", domain.View{License: "RCV3_x"}, "chat.example.com", true},
	}
	for _, tt := range tests {
		if got := tt.view.NeedsLicense(tt.address); got != tt.want {
			t.Errorf("%s: NeedsLicense(%q) = %v, want %v", tt.name, tt.address, got, tt.want)
		}
	}
}

func TestRawJSON(t *testing.T) {
	tests := []struct {
		raw  string
		keep bool
	}{
		{`{"uniqueId":"u","seats":1}`, true},
		{``, false},
		{`   `, false},
		{`{"uniqueId":`, false},
		{`{"siteName":"a\u0000b"}`, false}, // valid JSON that jsonb refuses
		{`{"siteName":"` + strings.Repeat("x", 70<<10) + `"}`, false},
	}
	for _, tt := range tests {
		if got := (domain.Report{Raw: tt.raw}).RawJSON(); (got != nil) != tt.keep {
			t.Errorf("RawJSON(%.40q) kept = %v, want %v", tt.raw, got != nil, tt.keep)
		}
	}
}

func TestNormalizeKeepsPostgresSafeText(t *testing.T) {
	r := domain.Report{UniqueID: " u ", Address: " chat.example.com ", Version: "7.2.1\n", SiteName: "a\x00b"}.Normalize()
	if r.UniqueID != "u" || r.Address != "chat.example.com" || r.Version != "7.2.1" || r.SiteName != "ab" {
		t.Fatalf("normalized = %+v", r)
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}
