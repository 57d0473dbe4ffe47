package domain

import "errors"

// ErrUnsupportedVersion: the workspace runs a version outside its support
// window, no exception covers it, and the policy is enforced.
var ErrUnsupportedVersion = errors.New("unsupported version")

// UnsupportedVersionError carries the message the workspace shows its
// admin.
type UnsupportedVersionError struct{ Message string }

func (e *UnsupportedVersionError) Error() string { return e.Message }

// Is makes it an ErrUnsupportedVersion.
func (e *UnsupportedVersionError) Is(target error) bool { return target == ErrUnsupportedVersion }
