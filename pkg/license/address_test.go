package license

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestStripAddress(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"chat.example.com", "chat.example.com"},
		{"https://Chat.Example.com/", "chat.example.com"},
		{"HTTP://chat.example.com", "chat.example.com"},
		{"HttpS://chat.example.com", "chat.example.com"},
		{"  http://chat.example.com:3000/Team/ \n", "chat.example.com:3000/team"},
		{"chat.example.com//", "chat.example.com/"},
		{"https://https://chat.example.com", "https://chat.example.com"},
		{"ftp://chat.example.com", "ftp://chat.example.com"},
		{"http:/chat.example.com", "http:/chat.example.com"},
		{"https://", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := StripAddress(tt.in); got != tt.want {
				t.Errorf("StripAddress(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     ServerURL
		address string
		want    bool
	}{
		{ServerURL{"chat.example.com", URLTypeURL}, "https://chat.example.com/", true},
		{ServerURL{"chat.example.com", URLTypeURL}, "Chat.Example.COM", true},
		{ServerURL{"Chat.Example.com", URLTypeURL}, "chat.example.com", true},
		{ServerURL{"chat.example.com:3000/team", URLTypeURL}, "http://chat.example.com:3000/team/", true},
		{ServerURL{"chat.example.com", URLTypeURL}, "chat.example.com.evil.org", false},
		{ServerURL{"chat.example.com", URLTypeURL}, "chat.example.com:3000", false},

		{ServerURL{"*.example.com", URLTypeRegex}, "https://a.example.com", true},
		{ServerURL{"*.example.com", URLTypeRegex}, "a.b.example.com", true},
		{ServerURL{"*.example.com", URLTypeRegex}, "A.EXAMPLE.COM/", true},
		{ServerURL{"*.example.com", URLTypeRegex}, "example.com", false},
		{ServerURL{"*.example.com", URLTypeRegex}, "a.exampleXcom", false},          // '.' is literal
		{ServerURL{"*.example.com", URLTypeRegex}, "a.example.com.evil.org", false}, // anchored at the end
		{ServerURL{"chat", URLTypeRegex}, "chat.example.com", false},                // anchored at both ends
		{ServerURL{"chat.example.*", URLTypeRegex}, "chat.example.org:3000/x", true},
		{ServerURL{"*chat*", URLTypeRegex}, "mychat.io", true},
		{ServerURL{"CHAT.*", URLTypeRegex}, "chat.io", true},
		{ServerURL{"*", URLTypeRegex}, "anything", true},
		{ServerURL{"chat(1).io", URLTypeRegex}, "chat(1).io", true}, // invalid for Validate, literal here
		{ServerURL{"chat+.io", URLTypeRegex}, "chatt.io", false},

		{ServerURL{sha("chat.example.com"), URLTypeHash}, "HTTPS://Chat.Example.com/", true},
		{ServerURL{sha("chat.example.com"), URLTypeHash}, "chat.example.org", false},
		{ServerURL{sha("https://chat.example.com"), URLTypeHash}, "https://chat.example.com", false},
		{ServerURL{strings.ToUpper(sha("chat.example.com")), URLTypeHash}, "chat.example.com", false},

		{ServerURL{"chat.example.com", "glob"}, "chat.example.com", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.url.Type)+" "+tt.url.Value+" "+tt.address, func(t *testing.T) {
			t.Parallel()
			if got := tt.url.Matches(tt.address); got != tt.want {
				t.Errorf("%+v.Matches(%q) = %v, want %v", tt.url, tt.address, got, tt.want)
			}
		})
	}
}

func TestMatchesAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		urls []ServerURL
		want bool
	}{
		{"no binding", nil, true},
		{"one match", []ServerURL{{"chat.example.com", URLTypeURL}}, true},
		{"all match", []ServerURL{{"chat.example.com", URLTypeURL}, {"*.example.com", URLTypeRegex}}, true},
		{"one fails", []ServerURL{{"chat.example.com", URLTypeURL}, {"*.example.org", URLTypeRegex}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := sampleDocument()
			d.Validation.ServerURLs = tt.urls
			if got := d.MatchesAddress("https://chat.example.com/"); got != tt.want {
				t.Errorf("MatchesAddress = %v, want %v", got, tt.want)
			}
		})
	}
}
