// Package domain holds the registry's rules: customers, workspaces and their
// states, and the errors the registry returns. No gRPC or SQL here.
package domain

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/cloudlicense/authority/pkg/validate"
)

// Errors of the registry.
var (
	ErrCustomerNotFound  = errors.New("customer not found")
	ErrWorkspaceNotFound = errors.New("workspace not found")
)

// State of a workspace.
type State string

// Workspace states.
const (
	StatePending      State = "pending"
	StateRegistered   State = "registered"
	StateDisconnected State = "disconnected"
	StateDeregistered State = "deregistered"
)

// Customer is an organization that owns workspaces.
type Customer struct {
	ID           string
	Name         string
	ContactEmail string
	CreatedAt    time.Time
}

// Workspace is a self-managed installation registered with the cloud.
type Workspace struct {
	ID            string
	CustomerID    string
	State         State
	ClientName    string
	ContactEmail  string
	InitialPlanID string
	UniqueID      string
	Address       string
	Version       string
	RegisteredAt  time.Time
	LastSyncedAt  *time.Time
}

// TokenRegistration is what a workspace sends to register with a token
// (PROTOCOL.md 2b).
type TokenRegistration struct {
	Token        string
	Email        string
	ClientName   string
	RedirectURIs []string
}

// Validate names every bad field.
func (r TokenRegistration) Validate() error {
	var errs []error
	if strings.TrimSpace(r.Token) == "" {
		errs = append(errs, validate.Field("registration_token", "required"))
	}
	if r.Email != "" {
		if _, err := mail.ParseAddress(r.Email); err != nil {
			errs = append(errs, validate.Field("email", "not an e-mail address"))
		}
	}
	if len(r.ClientName) > 256 {
		errs = append(errs, validate.Field("client_name", "longer than 256 characters"))
	}
	for _, u := range r.RedirectURIs {
		if p, err := url.Parse(u); err != nil || p.Scheme == "" || p.Host == "" {
			errs = append(errs, validate.Field("redirect_uris", "%q is not an absolute URL", u))
			break
		}
	}
	return errors.Join(errs...)
}

// NewWorkspaceID returns a 24-hex-digit id, the shape workspace ids have in
// the product (a Mongo ObjectId), so stock clients store it unchanged.
func NewWorkspaceID() string { return randomHex(12) }

// NewCustomerID returns a customer id.
func NewCustomerID() string { return "cus_" + randomHex(8) }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}
