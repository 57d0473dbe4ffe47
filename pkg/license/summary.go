package license

import (
	"fmt"
	"strings"
	"time"
)

// Summary is the gist of a license at one instant, for consoles and logs.
type Summary struct {
	LicenseID   string `json:"licenseId"`
	WorkspaceID string `json:"workspaceId,omitempty"`
	PlanID      string `json:"planId,omitempty"`
	PlanName    string `json:"planName,omitempty"`
	PlanVersion int    `json:"planVersion,omitempty"`
	Trial       bool   `json:"trial"`
	Offline     bool   `json:"offline"`
	// Modules are the granted module names, external ones included, in document order.
	Modules []string `json:"modules"`
	// Limits maps a limit kind ("activeUsers", ...) to its lowest max, the
	// threshold a workspace reaches first.
	Limits map[string]int `json:"limits"`
	// ValidFrom and ValidUntil bound the window in which no period fires: the
	// latest validFrom and the earliest validUntil; nil when unbounded.
	ValidFrom  *time.Time `json:"validFrom,omitempty"`
	ValidUntil *time.Time `json:"validUntil,omitempty"`
	// Valid is true when the document is valid and no period fires at the
	// summary's instant.
	Valid bool `json:"valid"`
	// Problems explain, in plain words, why Valid is false.
	Problems []string `json:"problems,omitempty"`
}

// Summarize reports d's plan, modules, limits and validity at instant at. A
// period fires when its validFrom is after at or its validUntil before at, and
// any firing period makes the summary invalid, whatever its behaviour: the
// problem names the behaviour, for callers that need to tell them apart.
func (d *Document) Summarize(at time.Time) Summary {
	s := Summary{
		LicenseID:   d.Information.ID,
		WorkspaceID: d.Validation.CloudWorkspaceID,
		Trial:       d.Information.Trial,
		Offline:     d.Information.Offline,
		Modules:     make([]string, 0, len(d.GrantedModules)),
		Limits:      make(map[string]int),
	}
	if m := d.CloudMeta; m != nil {
		if m.WorkspaceID != "" {
			s.WorkspaceID = m.WorkspaceID
		}
		s.PlanID, s.PlanName, s.PlanVersion = m.PlanID, m.PlanName, m.PlanVersion
	}
	for _, m := range d.GrantedModules {
		s.Modules = append(s.Modules, m.Module)
	}
	d.Limits.each(func(name string, ls []Limit) {
		for _, l := range ls {
			if cur, ok := s.Limits[name]; !ok || l.Max < cur {
				s.Limits[name] = l.Max
			}
		}
	})

	if err := d.Validate(); err != nil {
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, e := range errs {
			s.Problems = append(s.Problems, e.Error())
		}
	}
	for i, p := range d.Validation.ValidPeriods {
		consequence := string(p.InvalidBehavior)
		if len(p.Modules) > 0 {
			consequence += " of " + strings.Join(p.Modules, ", ")
		}
		path := fmt.Sprintf("validation.validPeriods[%d]", i)
		if from, err := ParseTime(p.ValidFrom); err == nil {
			if s.ValidFrom == nil || from.After(*s.ValidFrom) {
				s.ValidFrom = &from
			}
			if at.Before(from) {
				s.Problems = append(s.Problems, fmt.Sprintf("%s: not valid before %s (%s)", path, FormatTime(from), consequence))
			}
		}
		if until, err := ParseTime(p.ValidUntil); err == nil {
			if s.ValidUntil == nil || until.Before(*s.ValidUntil) {
				s.ValidUntil = &until
			}
			if at.After(until) {
				s.Problems = append(s.Problems, fmt.Sprintf("%s: expired at %s (%s)", path, FormatTime(until), consequence))
			}
		}
	}
	s.Valid = len(s.Problems) == 0
	return s
}
