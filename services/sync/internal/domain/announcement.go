package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudlicense/authority/pkg/validate"
)

// Errors of the announcements.
var (
	ErrAnnouncementNotFound = errors.New("announcement not found")
	// ErrIdempotencyKeyReused is a create whose key was used before for a
	// different announcement.
	ErrIdempotencyKeyReused = errors.New("idempotency key reused with a different request")
)

// Target says which workspaces an announcement is for.
type Target string

// Targets.
const (
	TargetAll        Target = "all"
	TargetPlans      Target = "plans"
	TargetWorkspaces Target = "workspaces"
)

// Surfaces a workspace shows an announcement on.
const (
	SurfaceBanner = "banner"
	SurfaceModal  = "modal"
)

// Bounds on an announcement; beyond them it is a mistake, and every targeted
// workspace would download it on every comms call.
const (
	maxAnnouncementJSON  = 32 << 10
	maxTargets           = 10000
	maxRoles             = 50
	maxAnnouncementField = 128
)

// Announcement is something workspaces show their users (PROTOCOL.md 5).
type Announcement struct {
	ID             string
	IdempotencyKey string
	Target         Target
	PlanIDs        []string
	WorkspaceIDs   []string
	// Dictionary and View are JSON objects, stored as sent.
	Dictionary  string
	View        string
	Surface     string
	Platforms   []string
	Roles       []string
	StartAt     time.Time
	ExpireAt    time.Time
	CreatedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	WithdrawnAt *time.Time
}

// Normalize fills the defaults of a new announcement and drops duplicate
// targets, so that two equal requests store equal rows.
func (a Announcement) Normalize(now time.Time) Announcement {
	if a.Surface == "" {
		a.Surface = SurfaceBanner
	}
	if len(a.Platforms) == 0 {
		a.Platforms = []string{"web"}
	}
	if a.CreatedBy == "" {
		a.CreatedBy = "cloud"
	}
	if a.StartAt.IsZero() {
		a.StartAt = now
	}
	a.StartAt = a.StartAt.UTC().Truncate(time.Millisecond)
	a.ExpireAt = a.ExpireAt.UTC().Truncate(time.Millisecond)
	a.PlanIDs = uniqueTrimmed(a.PlanIDs)
	a.WorkspaceIDs = uniqueTrimmed(a.WorkspaceIDs)
	a.Platforms = uniqueTrimmed(a.Platforms)
	a.Roles = uniqueTrimmed(a.Roles)
	a.IdempotencyKey = strings.TrimSpace(a.IdempotencyKey)
	return a
}

func uniqueTrimmed(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		s = strings.TrimSpace(s)
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Validate reports every field of a new (normalized) announcement that is
// wrong, wrapped in ErrInvalidRequest.
func (a Announcement) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) { errs = append(errs, validate.Field(field, format, args...)) }
	if a.IdempotencyKey == "" || len(a.IdempotencyKey) > maxAnnouncementField {
		bad("idempotency_key", "required, at most %d characters", maxAnnouncementField)
	}
	switch a.Target {
	case TargetAll:
		if len(a.PlanIDs) > 0 || len(a.WorkspaceIDs) > 0 {
			bad("target", "TARGET_ALL takes neither plan_ids nor workspace_ids")
		}
	case TargetPlans:
		checkIDs(bad, "plan_ids", a.PlanIDs)
		if len(a.WorkspaceIDs) > 0 {
			bad("workspace_ids", "only with TARGET_WORKSPACES")
		}
	case TargetWorkspaces:
		checkIDs(bad, "workspace_ids", a.WorkspaceIDs)
		if len(a.PlanIDs) > 0 {
			bad("plan_ids", "only with TARGET_PLANS")
		}
	default:
		bad("target", "required: TARGET_ALL, TARGET_PLANS or TARGET_WORKSPACES")
	}
	if err := checkDictionary(a.Dictionary); err != nil {
		bad("dictionary_json", "%v", err)
	}
	if err := checkObject(a.View); err != nil {
		bad("view_json", "%v", err)
	}
	if a.Surface != SurfaceBanner && a.Surface != SurfaceModal {
		bad("surface", "must be banner or modal")
	}
	for i, p := range a.Platforms {
		if p != "web" && p != "mobile" {
			bad(fmt.Sprintf("platforms[%d]", i), "must be web or mobile, got %q", p)
		}
	}
	if len(a.Roles) > maxRoles {
		bad("roles", "at most %d", maxRoles)
	}
	for i, r := range a.Roles {
		if r == "" || len(r) > maxAnnouncementField || !utf8.ValidString(r) {
			bad(fmt.Sprintf("roles[%d]", i), "must be a role name of 1 to %d characters", maxAnnouncementField)
		}
	}
	if a.CreatedBy != "cloud" && a.CreatedBy != "system" {
		bad("created_by", "must be cloud or system")
	}
	switch {
	case a.ExpireAt.IsZero():
		bad("expire_at", "required")
	case !a.ExpireAt.After(a.StartAt):
		bad("expire_at", "must be after start_at (%s)", a.StartAt.Format(time.RFC3339))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidRequest, errors.Join(errs...))
}

func checkIDs(bad func(field, format string, args ...any), field string, ids []string) {
	if len(ids) == 0 {
		bad(field, "at least one is required")
	}
	if len(ids) > maxTargets {
		bad(field, "at most %d", maxTargets)
	}
	for i, id := range ids {
		if id == "" || len(id) > maxAnnouncementField {
			bad(fmt.Sprintf("%s[%d]", field, i), "must be 1 to %d characters", maxAnnouncementField)
		}
	}
}

func checkObject(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("required")
	}
	if len(s) > maxAnnouncementJSON {
		return fmt.Errorf("larger than %d bytes", maxAnnouncementJSON)
	}
	var obj map[string]json.RawMessage
	if !json.Valid([]byte(s)) || json.Unmarshal([]byte(s), &obj) != nil || obj == nil {
		return errors.New("must be a JSON object")
	}
	return nil
}

// checkDictionary accepts what a workspace's announcement dictionary is: a
// JSON object of languages, each an object of strings.
func checkDictionary(s string) error {
	if err := checkObject(s); err != nil {
		return err
	}
	var dict map[string]map[string]string
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	if err := dec.Decode(&dict); err != nil {
		return errors.New(`must map languages to objects of strings, like {"en": {"title": "..."}}`)
	}
	if len(dict) == 0 {
		return errors.New("at least one language is required")
	}
	return nil
}

// TargetsWorkspace reports whether a targets the workspace id on plan planID.
func (a Announcement) TargetsWorkspace(workspaceID, planID string) bool {
	switch a.Target {
	case TargetAll:
		return true
	case TargetPlans:
		return planID != "" && slices.Contains(a.PlanIDs, planID)
	case TargetWorkspaces:
		return slices.Contains(a.WorkspaceIDs, workspaceID)
	}
	return false
}

// SameRequest reports whether b asks for what a (a stored announcement
// with the same idempotency key) asked for.
func (a Announcement) SameRequest(b Announcement) bool {
	return a.Target == b.Target && slices.Equal(a.PlanIDs, b.PlanIDs) && slices.Equal(a.WorkspaceIDs, b.WorkspaceIDs) &&
		jsonEqual(a.Dictionary, b.Dictionary) && jsonEqual(a.View, b.View) && a.Surface == b.Surface &&
		slices.Equal(a.Platforms, b.Platforms) && slices.Equal(a.Roles, b.Roles) && a.ExpireAt.Equal(b.ExpireAt) &&
		a.CreatedBy == b.CreatedBy
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return a == b
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
