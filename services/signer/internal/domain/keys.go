package domain

import "errors"

// ErrResignJobNotFound: no re-sign job with that id.
var ErrResignJobNotFound = errors.New("re-sign job not found")
