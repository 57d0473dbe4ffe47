package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/validate"
)

// Plan is a row of the plans table: what a license on it grants.
type Plan struct {
	ID         string
	Name       string
	Version    int
	Free       bool
	Modules    []string
	Definition Definition
	// IsDefault marks the plan of workspaces whose registration named none,
	// and the one a cancelled subscription falls back to.
	IsDefault bool
	// DefinitionJSON is the definition as stored, for callers that show it.
	DefinitionJSON []byte
	UpdatedAt      time.Time
}

// SupportPlan is the support a subscription entitles (PROTOCOL.md 10).
type SupportPlan string

// Support plans. Plus and mission-critical are sold only through sales.
const (
	SupportStandard        SupportPlan = "standard"
	SupportPlus            SupportPlan = "plus"
	SupportMissionCritical SupportPlan = "mission-critical"
)

// Coverage is when support answers.
type Coverage string

// Coverages.
const (
	Coverage12x5 Coverage = "12x5"
	Coverage24x7 Coverage = "24x7"
)

// FirstResponse holds the first-response targets per severity, in hours.
type FirstResponse struct {
	High   int `json:"high"`
	Medium int `json:"medium"`
	Low    int `json:"low"`
}

// Definition is a plan's limits and rules, in the license document's JSON
// shapes where the document has one.
type Definition struct {
	Limits license.Limits `json:"limits"`
	// ValidDays is a free plan's rolling validity: each license is valid until
	// the end of the UTC day ValidDays after it was issued.
	ValidDays int `json:"validDays,omitempty"`
	// TermDays is a paid plan's subscription period.
	TermDays           int                      `json:"termDays,omitempty"`
	StatisticsReport   license.StatisticsReport `json:"statisticsReport"`
	SupportPlan        SupportPlan              `json:"supportPlan"`
	Coverage           Coverage                 `json:"coverage"`
	FirstResponseHours FirstResponse            `json:"firstResponseHours"`
	AutoRenew          bool                     `json:"autoRenew"`
	// EndBehaviors say what a workspace does when the license's period ends:
	// each becomes one valid period ending GraceDays after the period end.
	// None: the license is invalidated at the end.
	EndBehaviors []EndBehavior `json:"endBehaviors,omitempty"`
	// Notice says how long before the end admins and users are warned.
	// Default: 30 and 7 days for paid plans, none for free ones.
	Notice *Notice `json:"notice,omitempty"`
	// Trial is how trials of a paid plan run. Default: 30 days, admins warned
	// 7 days and users 3 days before the end.
	Trial *TrialRules `json:"trial,omitempty"`
}

// EndBehavior is one consequence of the period's end.
type EndBehavior struct {
	// GraceDays after the period end (0: at the end itself).
	GraceDays int              `json:"graceDays"`
	Behavior  license.Behavior `json:"behavior"`
	// Modules, for disable_modules.
	Modules []string `json:"modules,omitempty"`
}

// Notice is how many days before the end the workspace warns.
type Notice struct {
	AdminsDays int `json:"adminsDays"`
	UsersDays  int `json:"usersDays"`
}

// TrialRules are a paid plan's trial length and warnings.
type TrialRules struct {
	Days       int `json:"days"`
	AdminsDays int `json:"adminsDays"`
	UsersDays  int `json:"usersDays"`
}

// Defaults of the period rules a definition may leave out.
var (
	DefaultPaidNotice = Notice{AdminsDays: 30, UsersDays: 7}
	DefaultTrial      = TrialRules{Days: 30, AdminsDays: 7, UsersDays: 3}
	// MaxTrialDays bounds a trial's length and its extensions.
	MaxTrialDays = 366
)

// EndRules returns the plan's end behaviours, defaulted.
func (d Definition) EndRules() []EndBehavior {
	if len(d.EndBehaviors) == 0 {
		return []EndBehavior{{GraceDays: 0, Behavior: license.BehaviorInvalidateLicense}}
	}
	return d.EndBehaviors
}

// GraceDays is how long after the period end the last behaviour fires.
func (d Definition) GraceDays() int {
	g := 0
	for _, b := range d.EndRules() {
		g = max(g, b.GraceDays)
	}
	return g
}

// NoticeRules returns the plan's notice, defaulted (nil: no warning dates).
func (d Definition) NoticeRules(free bool) *Notice {
	if d.Notice != nil {
		return d.Notice
	}
	if free {
		return nil
	}
	n := DefaultPaidNotice
	return &n
}

// TrialRules returns the plan's trial rules, defaulted.
func (d Definition) TrialRules() TrialRules {
	if d.Trial != nil {
		return *d.Trial
	}
	return DefaultTrial
}

// ParseDefinition decodes a stored definition strictly: a misspelt member in
// a plan migration must fail loudly, not grant a default.
func ParseDefinition(raw []byte) (Definition, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var d Definition
	if err := dec.Decode(&d); err != nil {
		return d, fmt.Errorf("plan definition: %w", err)
	}
	if dec.More() {
		return d, errors.New("plan definition: trailing data after the object")
	}
	return d, nil
}

// planIDPattern is what a plan id looks like: it appears in licenses and
// URLs, so it stays plain.
var planIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// MaxPlanNameLength bounds a plan's display name.
const MaxPlanNameLength = 100

// Validate reports every way p cannot produce a valid license, each a
// validate.FieldError naming the field in the plan's JSON shape ("id",
// "name", "modules[2]", "definition.limits.activeUsers[0].behavior").
func (p Plan) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, validate.Field(field, format, args...))
	}
	d := p.Definition
	if !planIDPattern.MatchString(p.ID) {
		bad("id", "must be 1 to 63 lower-case letters, digits or dashes, starting with a letter or digit, got %q", p.ID)
	}
	if strings.TrimSpace(p.Name) == "" || len(p.Name) > MaxPlanNameLength {
		bad("name", "required, at most %d characters", MaxPlanNameLength)
	}
	if p.Version < 1 {
		bad("version", "must be >= 1, got %d", p.Version)
	}
	if p.Free && d.ValidDays < 1 {
		bad("definition.validDays", "a free plan needs validDays >= 1")
	}
	if !p.Free && d.TermDays < 1 {
		bad("definition.termDays", "a paid plan needs termDays >= 1")
	}
	if d.ValidDays < 0 || d.ValidDays > 3660 {
		bad("definition.validDays", "must be between 0 and 3660, got %d", d.ValidDays)
	}
	if d.TermDays < 0 || d.TermDays > 3660 {
		bad("definition.termDays", "must be between 0 and 3660, got %d", d.TermDays)
	}
	switch d.SupportPlan {
	case SupportStandard, SupportPlus, SupportMissionCritical:
	default:
		bad("definition.supportPlan", "unknown support plan %q (want standard, plus or mission-critical)", d.SupportPlan)
	}
	switch d.Coverage {
	case Coverage12x5, Coverage24x7:
	default:
		bad("definition.coverage", "unknown coverage %q (want 12x5 or 24x7)", d.Coverage)
	}
	f := d.FirstResponseHours
	for sev, h := range map[string]int{"high": f.High, "medium": f.Medium, "low": f.Low} {
		if h < 1 {
			bad("definition.firstResponseHours."+sev, "must be >= 1 hour, got %d", h)
		}
	}
	for i, b := range d.EndBehaviors {
		path := fmt.Sprintf("definition.endBehaviors[%d]", i)
		if b.GraceDays < 0 || b.GraceDays > 366 {
			bad(path+".graceDays", "must be between 0 and 366, got %d", b.GraceDays)
		}
		switch b.Behavior {
		case license.BehaviorInvalidateLicense, license.BehaviorStartFairPolicy, license.BehaviorPreventAction, license.BehaviorDisableModules:
		default:
			bad(path+".behavior", "must be invalidate_license, start_fair_policy, prevent_action or disable_modules, got %q", b.Behavior)
		}
		if i > 0 && b.GraceDays < d.EndBehaviors[i-1].GraceDays {
			bad(path+".graceDays", "end behaviours must be in order of graceDays")
		}
	}
	if n := d.Notice; n != nil {
		if n.AdminsDays < 0 || n.AdminsDays > 366 {
			bad("definition.notice.adminsDays", "must be between 0 and 366, got %d", n.AdminsDays)
		}
		if n.UsersDays < 0 || n.UsersDays > 366 {
			bad("definition.notice.usersDays", "must be between 0 and 366, got %d", n.UsersDays)
		}
	}
	if tr := d.Trial; tr != nil {
		if p.Free {
			bad("definition.trial", "a free plan has no trial")
		}
		if tr.Days < 1 || tr.Days > MaxTrialDays {
			bad("definition.trial.days", "must be between 1 and %d, got %d", MaxTrialDays, tr.Days)
		}
		if tr.AdminsDays < 0 || tr.UsersDays < 0 {
			bad("definition.trial", "adminsDays and usersDays must be >= 0")
		}
	}
	// The modules, limits, statistics report and end behaviours are checked
	// the way the license library checks them, on the document the plan
	// would produce, and reported under the plan's own field names.
	end := license.FormatTime(time.Unix(0, 0))
	periods := make([]license.Period, len(d.EndBehaviors))
	for i, b := range d.EndBehaviors {
		periods[i] = license.Period{ValidUntil: end, InvalidBehavior: b.Behavior, Modules: b.Modules}
	}
	doc := &license.Document{
		Version:        license.Version,
		Information:    license.Information{ID: "plan-check", CreatedAt: end, GrantedBy: license.GrantedBy{Method: license.GrantedManually}},
		Validation:     license.Validation{StatisticsReport: &d.StatisticsReport, ValidPeriods: periods},
		GrantedModules: modules(p.Modules),
		Limits:         d.Limits,
	}
	for _, fe := range licenseFieldErrors(doc.Validate()) {
		bad(planPath(fe.Path), "%s", fe.Problem)
	}
	return errors.Join(errs...)
}

// licenseFieldErrors flattens what license.Document.Validate returns.
func licenseFieldErrors(err error) []*license.FieldError {
	var out []*license.FieldError
	var walk func(error)
	walk = func(e error) {
		if fe, ok := e.(*license.FieldError); ok {
			out = append(out, fe)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range j.Unwrap() {
				walk(c)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// planPath turns a license document path into the plan field that produced
// it.
func planPath(docPath string) string {
	for _, r := range []struct{ doc, plan string }{
		{"grantedModules", "modules"},
		{"limits", "definition.limits"},
		{"validation.statisticsReport", "definition.statisticsReport"},
		{"validation.validPeriods", "definition.endBehaviors"},
	} {
		if rest, ok := strings.CutPrefix(docPath, r.doc); ok {
			if r.plan == "modules" {
				rest = strings.TrimSuffix(rest, ".module")
			}
			rest = strings.Replace(rest, ".invalidBehavior", ".behavior", 1)
			return r.plan + rest
		}
	}
	return "definition"
}

func modules(names []string) []license.Module {
	out := make([]license.Module, len(names))
	for i, m := range names {
		out[i] = license.Module{Module: m}
	}
	return out
}
