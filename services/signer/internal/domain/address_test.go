package domain

import (
	"errors"
	"strings"
	"testing"

	"github.com/cloudlicense/authority/pkg/validate"
)

func TestParseAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reported, want string
		wantErr        bool
	}{
		{reported: "", want: ""},
		{reported: "https://Chat.Example.com/", want: "chat.example.com"},
		{reported: "HTTP://chat.example.com:3000/team", want: "chat.example.com:3000/team"},
		{reported: "  chat.example.com  ", want: "chat.example.com"},
		{reported: "chat.example.com", want: "chat.example.com"},
		{reported: strings.Repeat("a", MaxAddressLength), want: strings.Repeat("a", MaxAddressLength)},
		{reported: "https://", wantErr: true},
		{reported: "   ", wantErr: true},
		{reported: "/", wantErr: true},
		{reported: "chat example.com", wantErr: true},
		{reported: "chat.example.com\tx", wantErr: true},
		{reported: "chat.example.com\x00", wantErr: true},
		{reported: strings.Repeat("a", MaxAddressLength+1), wantErr: true},
		{reported: "https://https://chat.example.com", wantErr: true},
		{reported: "chat.example.com//", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseAddress(tt.reported)
		if tt.wantErr {
			if !errors.Is(err, ErrInvalidAddress) {
				t.Errorf("ParseAddress(%q) = %q, %v; want ErrInvalidAddress", tt.reported, got, err)
				continue
			}
			if f := validate.Fields(err); len(f) != 1 || f[0].Field != "address" {
				t.Errorf("ParseAddress(%q) fields = %v, want one naming address", tt.reported, f)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseAddress(%q) = %q, %v; want %q", tt.reported, got, err, tt.want)
		}
	}
}

func TestCheckWorkspaceID(t *testing.T) {
	t.Parallel()
	if err := CheckWorkspaceID("65f0c0ffee0123456789abcd"); err != nil {
		t.Errorf("valid id: %v", err)
	}
	for _, id := range []string{"", strings.Repeat("x", MaxWorkspaceIDLength+1)} {
		if f := validate.Fields(CheckWorkspaceID(id)); len(f) != 1 || f[0].Field != "workspace_id" {
			t.Errorf("CheckWorkspaceID(%q) fields = %v, want one naming workspace_id", id, f)
		}
	}
}
