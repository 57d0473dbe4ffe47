package validate_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/cloudlicense/authority/pkg/validate"
)

func TestFieldError(t *testing.T) {
	t.Parallel()
	err := validate.Field("workspace_id", "must be %d hex characters", 32)
	if got, want := err.Error(), "workspace_id: must be 32 hex characters"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if err.Field != "workspace_id" || err.Reason != "must be 32 hex characters" {
		t.Errorf("FieldError = %+v", err)
	}
	wrapped := fmt.Errorf("register: %w", err)
	if !errors.Is(wrapped, validate.ErrInvalid) {
		t.Error("errors.Is(wrapped FieldError, ErrInvalid) = false")
	}
	var fe *validate.FieldError
	if !errors.As(wrapped, &fe) || fe != err {
		t.Errorf("errors.As found %v, want %v", fe, err)
	}
	if errors.Is(errors.New("workspace_id: bad"), validate.ErrInvalid) {
		t.Error("a plain error matches ErrInvalid")
	}
}

func TestFields(t *testing.T) {
	t.Parallel()
	a := validate.Field("a", "bad")
	b := validate.Field("b", "bad")
	c := validate.Field("c", "bad")
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"nil", nil, nil},
		{"plain error", errors.New("boom"), nil},
		{"one field", a, []string{"a"}},
		{"wrapped field", fmt.Errorf("create: %w", a), []string{"a"}},
		{"joined fields", errors.Join(a, b), []string{"a", "b"}},
		{"joined with a plain error", errors.Join(errors.New("boom"), a), []string{"a"}},
		{"several %w", fmt.Errorf("%w; %w", a, b), []string{"a", "b"}},
		{"nested joins", errors.Join(a, errors.Join(b, fmt.Errorf("x: %w", c))), []string{"a", "b", "c"}},
		{"wrapped join", fmt.Errorf("register: %w", errors.Join(a, b)), []string{"a", "b"}},
		{"twice wrapped join", fmt.Errorf("rpc: %w", fmt.Errorf("register: %w", errors.Join(a, b, c))), []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, f := range validate.Fields(tt.err) {
				got = append(got, f.Field)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Fields = %v, want %v", got, tt.want)
			}
		})
	}
}
