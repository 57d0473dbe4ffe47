// Package validate describes a bad input field in domain terms, so domain code
// can reject input without knowing about gRPC or HTTP; each boundary turns a
// FieldError into its own shape (InvalidArgument with BadRequest details, or
// the workspace protocol's 400 naming the field).
package validate

import (
	"errors"
	"fmt"
)

// ErrInvalid matches every FieldError with errors.Is.
var ErrInvalid = errors.New("invalid input")

// FieldError names the field that is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

// Field returns a FieldError for field.
func Field(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// Fields returns every FieldError joined in err.
func Fields(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		var fe *FieldError
		if x, ok := e.(*FieldError); ok {
			out = append(out, x)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range j.Unwrap() {
				walk(c)
			}
			return
		}
		// Follow a single wrap ourselves: errors.As would stop at the first
		// FieldError of a wrapped join and lose the others.
		if w, ok := e.(interface{ Unwrap() error }); ok {
			walk(w.Unwrap())
			return
		}
		if errors.As(e, &fe) {
			out = append(out, fe)
		}
	}
	walk(err)
	return out
}
