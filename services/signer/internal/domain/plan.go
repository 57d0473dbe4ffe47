package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cloudlicense/authority/pkg/license"
)

// Plan is a row of the plans table: what a license on it grants.
type Plan struct {
	ID         string
	Name       string
	Version    int
	Free       bool
	Modules    []string
	Definition Definition
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
	return d, nil
}

// Validate reports every way p cannot produce a valid license.
func (p Plan) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("plan %q: "+format, append([]any{p.ID}, args...)...))
	}
	d := p.Definition
	if p.Version < 1 {
		bad("version must be >= 1, got %d", p.Version)
	}
	if p.Free && d.ValidDays < 1 {
		bad("a free plan needs validDays >= 1")
	}
	if !p.Free && d.TermDays < 1 {
		bad("a paid plan needs termDays >= 1")
	}
	switch d.SupportPlan {
	case SupportStandard, SupportPlus, SupportMissionCritical:
	default:
		bad("unknown supportPlan %q", d.SupportPlan)
	}
	switch d.Coverage {
	case Coverage12x5, Coverage24x7:
	default:
		bad("unknown coverage %q", d.Coverage)
	}
	if f := d.FirstResponseHours; f.High < 1 || f.Medium < 1 || f.Low < 1 {
		bad("firstResponseHours need high, medium and low >= 1")
	}
	// The modules and limits are checked the way the license library checks
	// them, on the document the plan would produce.
	doc := &license.Document{
		Version:        license.Version,
		Information:    license.Information{ID: "plan-check", CreatedAt: license.FormatTime(time.Unix(0, 0)), GrantedBy: license.GrantedBy{Method: license.GrantedManually}},
		Validation:     license.Validation{StatisticsReport: &d.StatisticsReport},
		GrantedModules: modules(p.Modules),
		Limits:         d.Limits,
	}
	if err := doc.Validate(); err != nil {
		bad("%w", err)
	}
	return errors.Join(errs...)
}

func modules(names []string) []license.Module {
	out := make([]license.Module, len(names))
	for i, m := range names {
		out[i] = license.Module{Module: m}
	}
	return out
}
