package keys

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"time"
)

// State is where a key stands in its keyset's life. A key moves only
// forward: next -> active -> retired, and any state -> revoked.
type State string

// The states of a key.
const (
	// StateNext: published to verifiers, not signing yet. A key waits here
	// long enough for every verifier's cached keyset to hold it, so the
	// first artifact it signs already verifies everywhere.
	StateNext State = "next"
	// StateActive: the one key new artifacts are signed with.
	StateActive State = "active"
	// StateRetired: signs nothing more; what it signed keeps verifying
	// until its NotAfter.
	StateRetired State = "retired"
	// StateRevoked: compromised or withdrawn; nothing it signed verifies.
	StateRevoked State = "revoked"
)

// ParseState returns the state named s.
func ParseState(s string) (State, error) {
	switch st := State(s); st {
	case StateNext, StateActive, StateRetired, StateRevoked:
		return st, nil
	}
	return "", fmt.Errorf("keys: unknown key state %q (want next, active, retired or revoked)", s)
}

// Verifies reports whether artifacts signed by a key in this state may
// still be accepted (its window decides the rest).
func (s State) Verifies() bool { return s == StateNext || s == StateActive || s == StateRetired }

// Record is one key of a keyset as stored: its public half, its window and
// state, and a reference to its private half that only the Backend that
// made it can use.
type Record struct {
	ID        string
	Algorithm string
	State     State
	Public    *rsa.PublicKey
	// CreatedAt is when the key was published (as next, or imported).
	CreatedAt time.Time
	// NotBefore is when the key began signing (its activation); zero while
	// it is next.
	NotBefore time.Time
	// RetiredAt is when the key stopped signing; zero until it retires.
	RetiredAt time.Time
	// NotAfter is the end of verification: signatures by a retired key are
	// accepted until then. Zero is unbounded (a key that has not retired).
	NotAfter time.Time
	// RevokedAt is when the key was revoked; zero otherwise.
	RevokedAt time.Time
	// Backend names the Backend holding the private half; Ref is that
	// backend's handle for it (sealed material, a KMS key name).
	Backend string
	Ref     []byte
}

// PublicKey returns the verifying half of r.
func (r Record) PublicKey() PublicKey {
	return PublicKey{ID: r.ID, Algorithm: r.Algorithm, Key: r.Public, State: r.State,
		NotBefore: r.NotBefore, NotAfter: r.NotAfter, RetiredAt: r.RetiredAt}
}

// Errors of a verification-time key check.
var (
	ErrKeyRevoked    = errors.New("keys: the signing key was revoked")
	ErrKeyExpired    = errors.New("keys: the signing key's verification window has ended")
	ErrOutsideWindow = errors.New("keys: the artifact was signed outside its key's signing window")
)

// RetirementGrace is how long after its retirement a key's signatures are
// still taken as signed in its window. A rotation reaches the other
// replicas of a service only when they hear of it (at once on
// keyset.changed, at the latest after KEYSET_REFRESH, 30 s by default):
// until then they sign with the key just retired, and what they sign is
// genuine. Retirement is not compromise (that is revocation, which no grace
// softens); keep KEYSET_REFRESH well under this.
const RetirementGrace = 5 * time.Minute

// CheckWindow says whether an artifact signed at signedAt by k may be
// accepted at time at. A zero signedAt skips the signing-window check (the
// artifact does not say when it was signed); a zero at skips the end of
// verification.
func (k PublicKey) CheckWindow(signedAt, at time.Time) error {
	if k.State == StateRevoked {
		return ErrKeyRevoked
	}
	if !at.IsZero() && !k.NotAfter.IsZero() && at.After(k.NotAfter) {
		return fmt.Errorf("%w (%s)", ErrKeyExpired, k.NotAfter.UTC().Format(time.RFC3339))
	}
	if signedAt.IsZero() {
		return nil
	}
	// A second of slack: documents carry milliseconds, the key's times come
	// from another clock.
	const slack = time.Second
	if !k.NotBefore.IsZero() && signedAt.Before(k.NotBefore.Add(-slack)) {
		return fmt.Errorf("%w: signed %s, the key signs from %s", ErrOutsideWindow,
			signedAt.UTC().Format(time.RFC3339), k.NotBefore.UTC().Format(time.RFC3339))
	}
	if !k.RetiredAt.IsZero() && signedAt.After(k.RetiredAt.Add(RetirementGrace+slack)) {
		return fmt.Errorf("%w: signed %s, the key retired %s", ErrOutsideWindow,
			signedAt.UTC().Format(time.RFC3339), k.RetiredAt.UTC().Format(time.RFC3339))
	}
	return nil
}
