package domain

import "errors"

// Errors of the signing keyset.
var (
	// ErrKeyExists: importing a key the keyset holds already.
	ErrKeyExists = errors.New("signing key exists already")
	// ErrKeyNotFound: no key with that kid.
	ErrKeyNotFound = errors.New("signing key not found")
	// ErrKeyRevoked: changing a key that is revoked.
	ErrKeyRevoked = errors.New("signing key is revoked")
	// ErrNoNextKey: rotating a keyset with no next key.
	ErrNoNextKey = errors.New("the keyset has no next key")
	// ErrNextKeyTooNew: rotating before the next key has been published for
	// the publish lead.
	ErrNextKeyTooNew = errors.New("the next key has not been published long enough")
	// ErrResignJobNotFound: no re-sign job with that id.
	ErrResignJobNotFound = errors.New("re-sign job not found")
)
