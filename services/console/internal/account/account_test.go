package account

import (
	"errors"
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	h := HashPassword("correct horse battery")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not argon2id with the chosen parameters", h)
	}
	if h == HashPassword("correct horse battery") {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if !VerifyPassword(h, "correct horse battery") {
		t.Fatal("the password does not verify")
	}
	for _, bad := range []string{"correct horse batterY", "", "correct horse battery "} {
		if VerifyPassword(h, bad) {
			t.Errorf("%q verifies", bad)
		}
	}
	// No password (an invited member), a foreign or mangled hash: nothing matches.
	for _, hash := range []string{"", "$2a$10$abcdefghijklmnopqrstuv", strings.Replace(h, "argon2id", "argon2i", 1), h[:len(h)-4]} {
		if VerifyPassword(hash, "correct horse battery") {
			t.Errorf("hash %q matched", hash)
		}
	}
}

func TestParseSignUp(t *testing.T) {
	t.Parallel()
	su, err := ParseSignUp("  Alice@Example.COM ", "long enough password", "long enough password", " Acme ")
	if err != nil || su.Email != "alice@example.com" || su.OrgName != "Acme" {
		t.Fatalf("ParseSignUp = %+v, %v", su, err)
	}
	tests := []struct {
		email, password, confirm, org string
		fields                        []string
	}{
		{"", "", "", "", []string{"email", "password", "organization"}},
		{"not an address", "long enough password", "long enough password", "Acme", []string{"email"}},
		{"Name <a@example.com>", "long enough password", "long enough password", "Acme", []string{"email"}},
		{"a@localhost", "long enough password", "long enough password", "Acme", []string{"email"}},
		{"a@example.com", "short", "short", "Acme", []string{"password"}},
		{"a@example.com", strings.Repeat("p", MaxPassword+1), strings.Repeat("p", MaxPassword+1), "Acme", []string{"password"}},
		{"a@example.com", "long enough password", "long enough passwort", "Acme", []string{"confirm"}},
		{"a@example.com", "long enough password", "long enough password", strings.Repeat("x", 101), []string{"organization"}},
	}
	for _, tt := range tests {
		_, err := ParseSignUp(tt.email, tt.password, tt.confirm, tt.org)
		var fe FieldErrors
		if !errors.As(err, &fe) {
			t.Errorf("%+v: error %v, want field errors", tt, err)
			continue
		}
		if len(fe) != len(tt.fields) {
			t.Errorf("%+v: fields %v, want %v", tt, fe, tt.fields)
		}
		for _, f := range tt.fields {
			if fe.Get(f) == "" {
				t.Errorf("%+v: no message for %s (%v)", tt, f, fe)
			}
		}
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	a, b := NewSecret("ses_"), NewSecret("ses_")
	if a == b || !strings.HasPrefix(a, "ses_") || len(a) != 4+43 {
		t.Fatalf("secrets %q %q", a, b)
	}
	if string(HashSecret(a)) == string(HashSecret(b)) || len(HashSecret(a)) != 32 {
		t.Fatal("secret hashes collide or are not SHA-256")
	}
}
