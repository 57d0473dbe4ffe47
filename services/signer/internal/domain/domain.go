// Package domain holds the signer's rules: what a plan, a subscription and a
// license are, how a license document is built from a plan and a
// subscription, when a workspace's newest license still serves it, and the
// errors the signer returns. No gRPC or SQL here.
package domain

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/cloudlicense/authority/pkg/validate"
)

// Errors of the signer, mapped to gRPC codes at the boundary.
var (
	ErrWorkspaceNotFound = errors.New("workspace not found")
	ErrPlanNotFound      = errors.New("plan not found")
	ErrInvalidAddress    = errors.New("invalid site address")
	// ErrPlanExists: creating a plan whose id is taken.
	ErrPlanExists = errors.New("plan exists already")
	// ErrPlanVersionConflict: publishing over a version the caller did not
	// expect.
	ErrPlanVersionConflict = errors.New("plan version conflict")
	// ErrIdempotencyKeyReused: an idempotency key seen with another request.
	ErrIdempotencyKeyReused = errors.New("idempotency key reused with a different request")
)

// Workspace is what the signer knows of a registered workspace.
type Workspace struct {
	ID            string
	CustomerID    string
	InitialPlanID string // "" for the default (free) plan
	ClientName    string
	RegisteredAt  time.Time
}

// License is one issued license. Licenses are never changed once issued.
type License struct {
	ID          string
	WorkspaceID string
	Sequence    int64
	PlanID      string
	PlanVersion int
	Address     string // stripped; "" while the license is bound to no address
	Token       string // "RCV3_" followed by the signed JWT
	KeyID       string
	IssuedAt    time.Time
	ExpiresAt   *time.Time
	Modules     []string
	Trial       bool
	Offline     bool
}

// Withdrawal is a license withdrawn from a workspace (a suspension). It
// takes the workspace's next license sequence, so a view that applies it
// moves past every license before it.
type Withdrawal struct {
	WorkspaceID string
	Sequence    int64
	Reason      string
	At          time.Time
}

// Serves reports whether l, the workspace's newest license, can be handed out
// for a request reporting the stripped address addr ("" keeps the binding),
// or whether a new one must be issued: when the workspace moved to another
// address or plan, or when a free plan's rolling validity has run past its
// half, so a workspace that keeps syncing never reaches the end of it.
func (l License) Serves(addr string, sub Subscription, plan Plan, now time.Time) bool {
	if addr != "" && addr != l.Address {
		return false
	}
	// An offline license is for pasting; a workspace that syncs gets an
	// ordinary one.
	if l.PlanID != sub.PlanID || l.Offline || l.Trial != sub.Trial() {
		return false
	}
	if plan.Free && l.ExpiresAt != nil && plan.Definition.ValidDays > 0 {
		renewAt := l.ExpiresAt.Add(-time.Duration(plan.Definition.ValidDays) * 24 * time.Hour / 2)
		if !now.Before(renewAt) {
			return false
		}
	}
	return true
}

// NewLicenseID returns a license id.
func NewLicenseID() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // the platform is broken; nothing safe to do
	}
	return "lic_" + hex.EncodeToString(b)
}

// MaxWorkspaceIDLength bounds a workspace id (the registry issues 24 hex
// digits; anything far longer is not one).
const MaxWorkspaceIDLength = 128

// CheckWorkspaceID rejects a missing or absurd workspace id.
func CheckWorkspaceID(id string) error {
	if id == "" {
		return validate.Field("workspace_id", "required")
	}
	if len(id) > MaxWorkspaceIDLength {
		return validate.Field("workspace_id", "longer than %d characters", MaxWorkspaceIDLength)
	}
	return nil
}
