package domain

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Errors of registration intents.
var (
	ErrIntentNotFound = errors.New("registration intent not found")
	ErrIntentExpired  = errors.New("registration intent expired")
	ErrIntentRejected = errors.New("registration intent was rejected")
	ErrIntentDone     = errors.New("registration intent was already confirmed")
	ErrTooManyMails   = errors.New("the confirmation e-mail was sent too many times for this registration")
	ErrIntentsOff     = errors.New("registration by e-mail confirmation is not configured (INTENT_SECRET_KEY)")
	ErrPublicURL      = errors.New("the registry's PUBLIC_URL is not configured")
)

// MaxIntentMails bounds the confirmation e-mails of one intent (the first
// and the re-sends), so a workspace cannot make the cloud mail-bomb a
// contact.
const MaxIntentMails = 5

// IntentState is the stored state of an intent; expiry is a matter of time.
type IntentState string

// Intent states.
const (
	IntentPending   IntentState = "pending"
	IntentConfirmed IntentState = "confirmed"
	IntentRejected  IntentState = "rejected"
)

// PollStatus is what a poll answers.
type PollStatus int

// Poll statuses (PROTOCOL.md 2a).
const (
	PollPending PollStatus = iota + 1
	PollSlowDown
	PollExpired
	PollRejected
	PollConfirmed
)

// Intent is a registration waiting for (or past) its contact's
// confirmation. Secrets are held sealed; the device and confirmation codes
// are looked up by hash.
type Intent struct {
	ID              string
	WorkspaceID     string
	UserCode        string
	Data            RegistrationData
	VerificationURL string
	State           IntentState
	CreatedAt       time.Time
	ExpiresAt       time.Time
	LastPolledAt    *time.Time
	MailsRequested  int
	ClientID        string
	// Sealed values (nil once erased).
	DeviceCodeSealed   []byte
	ConfirmCodeSealed  []byte
	ClientSecretSealed []byte
}

// StateAt is the state as a person sees it at now: pending intents past
// their expiry are expired.
func (i Intent) StateAt(now time.Time) string {
	if i.State == IntentPending && !now.Before(i.ExpiresAt) {
		return "expired"
	}
	return string(i.State)
}

// PollAt decides a poll at now given the interval between polls: a poll
// sooner than 4/5 of the interval after the last answered one is told to
// slow down (the slack absorbs a workspace's timer and network jitter).
func (i Intent) PollAt(now time.Time, interval time.Duration) PollStatus {
	switch {
	case i.State == IntentRejected:
		return PollRejected
	case !now.Before(i.ExpiresAt):
		return PollExpired
	case i.LastPolledAt != nil && now.Sub(*i.LastPolledAt) < interval*4/5:
		return PollSlowDown
	case i.State == IntentConfirmed && i.ClientSecretSealed == nil:
		return PollExpired // the credentials were used: the intent is done
	case i.State == IntentConfirmed:
		return PollConfirmed
	}
	return PollPending
}

// NewIntentID returns an intent id.
func NewIntentID() string { return "int_" + randomHex(12) }

// NewDeviceCode returns the code the workspace polls with.
func NewDeviceCode() string { return "dc_" + randomB64(32) }

// NewConfirmCode returns the code the confirmation link carries.
func NewConfirmCode() string { return "cc_" + randomB64(32) }

// userCodeAlphabet has no look-alike characters (0/O, 1/I/L).
const userCodeAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// NewUserCode returns the short code the workspace shows and the e-mail
// repeats, so the contact can tell the mail belongs to their registration.
func NewUserCode() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	out := make([]byte, 0, 9)
	for i, c := range b {
		if i == 4 {
			out = append(out, '-')
		}
		out = append(out, userCodeAlphabet[int(c)%len(userCodeAlphabet)])
	}
	return string(out)
}

// HashCode is how device and confirmation codes are looked up: they carry
// 256 random bits, so a fast hash is enough.
func HashCode(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

func randomB64(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Sealer encrypts the secrets an intent holds (AES-256-GCM, a random nonce
// per value, the intent id as additional data so a sealed value cannot be
// moved to another intent).
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a sealer from base64 of a 32-byte key.
func NewSealer(keyB64 string) (*Sealer, error) {
	key, err := base64.StdEncoding.DecodeString(keyB64)
	if err != nil {
		return nil, fmt.Errorf("INTENT_SECRET_KEY: not base64: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("INTENT_SECRET_KEY: %d bytes, want 32 (base64 of 32 random bytes)", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plain for the intent id.
func (s *Sealer) Seal(id, plain string) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return s.aead.Seal(nonce, nonce, []byte(plain), []byte(id))
}

// Open decrypts a sealed value of the intent id.
func (s *Sealer) Open(id string, sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("sealed value too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(id))
	if err != nil {
		return "", fmt.Errorf("open sealed value (wrong INTENT_SECRET_KEY?): %w", err)
	}
	return string(plain), nil
}
