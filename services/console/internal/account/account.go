// Package account holds the console's rules about people: how passwords are
// hashed and checked, what a valid sign-up is, and the one-time secrets
// (session ids, e-mail links) handed to browsers and mailboxes. It knows no
// SQL and no HTTP.
package account

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Errors the store and the pages share.
var (
	ErrNotFound     = errors.New("not found")
	ErrTokenUsed    = errors.New("link already used")
	ErrTokenExpired = errors.New("link expired")
	ErrExists       = errors.New("already exists")
)

// Purposes of e-mailed links.
const (
	PurposeVerify = "verify"
	PurposeReset  = "reset"
)

// Lifetimes of e-mailed links: a verification may sit in a mailbox for a
// day; a password reset is short so a leaked mailbox archive is worth less.
var TokenTTL = map[string]time.Duration{PurposeVerify: 24 * time.Hour, PurposeReset: time.Hour}

// Account is one person who signs in.
type Account struct {
	ID           string
	Email        string
	PasswordHash string // empty: invited, no password chosen yet
	OrgName      string // the organization a sign-up asked for, created on verification
	Verified     bool
}

// Organization is a customer of the registry as the console sees it.
type Organization struct {
	ID         string
	CustomerID string
	Name       string
	Role       string // the signed-in member's: owner or member
}

// Member is one person of an organization.
type Member struct {
	Email    string
	Role     string
	Verified bool
}

// FieldError names a form field and what is wrong with it.
type FieldError struct{ Field, Message string }

// FieldErrors are every problem of one form.
type FieldErrors []FieldError

func (e FieldErrors) Error() string {
	parts := make([]string, len(e))
	for i, f := range e {
		parts[i] = f.Field + ": " + f.Message
	}
	return strings.Join(parts, "; ")
}

// Get returns the message of field, or "".
func (e FieldErrors) Get(field string) string {
	for _, f := range e {
		if f.Field == field {
			return f.Message
		}
	}
	return ""
}

// Password bounds: long enough to resist guessing, bounded so hashing an
// attacker's megabyte costs nothing extra.
const (
	MinPassword = 10
	MaxPassword = 256
)

// NormalizeEmail checks an address and returns it trimmed and lower-cased
// (accounts are unique case-insensitively).
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("Enter your e-mail address.")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") || len(s) > 254 {
		return "", errors.New("Enter an e-mail address like name@example.com.")
	}
	return strings.ToLower(s), nil
}

// CheckPassword says what is wrong with a new password.
func CheckPassword(p string) error {
	n := utf8.RuneCountInString(p)
	switch {
	case n < MinPassword:
		return fmt.Errorf("Choose a password of at least %d characters.", MinPassword)
	case n > MaxPassword:
		return fmt.Errorf("Choose a password of at most %d characters.", MaxPassword)
	}
	return nil
}

// SignUp is a validated sign-up form.
type SignUp struct {
	Email, Password, OrgName string
}

// ParseSignUp validates the sign-up form, naming every bad field.
func ParseSignUp(email, password, confirm, org string) (SignUp, error) {
	var errs FieldErrors
	e, err := NormalizeEmail(email)
	if err != nil {
		errs = append(errs, FieldError{"email", err.Error()})
	}
	if err := CheckPassword(password); err != nil {
		errs = append(errs, FieldError{"password", err.Error()})
	} else if password != confirm {
		errs = append(errs, FieldError{"confirm", "The two passwords differ."})
	}
	org = strings.TrimSpace(org)
	switch {
	case org == "":
		errs = append(errs, FieldError{"organization", "Enter your organization's name."})
	case utf8.RuneCountInString(org) > 100:
		errs = append(errs, FieldError{"organization", "Use at most 100 characters."})
	}
	if len(errs) > 0 {
		return SignUp{}, errs
	}
	return SignUp{Email: e, Password: password, OrgName: org}, nil
}

// argon2id parameters: the second of OWASP's recommended settings (19 MiB,
// two passes, one lane), about 30 ms on one core here.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// HashPassword returns the PHC-style string of an argon2id hash with a
// fresh salt; the parameters travel with the hash so they can change later.
func HashPassword(p string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(p), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// dummyHash is checked against when no account matches, so a sign-in for
// an unknown address takes as long as one with a wrong password. It is made
// on first use, not at start: hashing takes argonMemory, which an idle
// console should not hold.
var dummyHash = sync.OnceValue(func() string { return HashPassword("no account has this password") })

// VerifyPassword reports whether p matches hash (an empty hash, an account
// without a password, matches nothing but costs the same).
func VerifyPassword(hash, p string) bool {
	if hash == "" {
		verify(dummyHash(), p)
		return false
	}
	return verify(hash, p)
}

func verify(hash, p string) bool {
	var version int
	var m uint32
	var t uint32
	var threads uint8
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &threads); err != nil {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(p), salt, t, m, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// NewSecret returns a random URL-safe secret of 256 bits with a prefix
// naming its kind (so one found in a log says what it is).
func NewSecret(prefix string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// HashSecret is how a secret is looked up: only its SHA-256 is stored, so
// the table leaks no usable session or link. The secrets carry 256 random
// bits, so no slow hash is needed.
func HashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// NewID returns an identifier with prefix.
func NewID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}
