package license

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrInvalid reports a document that breaks the V3 contract. Every FieldError
// matches it with errors.Is.
var ErrInvalid = errors.New("license: invalid document")

// FieldError is one problem in a document, located by its JSON path, such as
// `validation.validPeriods[0].invalidBehavior`.
type FieldError struct {
	Path    string
	Problem string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Problem }

// Is makes every FieldError match ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// externalModule is the "<vendor>.<name>" form of an app's module.
var externalModule = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$`)

// regexMeta are the characters a workspace would read as regular expression
// syntax in a regex server URL. The V3 contract only gives "." (literal) and
// "*" (any run) a meaning, so anything else would make this package and a
// workspace disagree on what the value matches.
const regexMeta = `\^$+?()[]{}|`

// validator collects problems instead of stopping at the first, so that one
// round trip shows an author everything wrong with a document.
type validator struct{ errs []error }

func (v *validator) addf(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Problem: fmt.Sprintf(format, args...)})
}

// time checks an optional document time.
func (v *validator) time(path, s string) {
	if s == "" {
		return
	}
	if _, err := ParseTime(s); err != nil {
		v.addf(path, "not an ISO-8601 time: %q", s)
	}
}

func (v *validator) behavior(path string, b Behavior) {
	if !behaviors[b] {
		v.addf(path, "unknown behaviour %q", b)
	}
}

// moduleRefs checks a list of module names (of disable_modules) next to behaviour b.
func (v *validator) moduleRefs(path string, b Behavior, modules []string) {
	if b == BehaviorDisableModules && len(modules) == 0 {
		v.addf(path, "required by %s", BehaviorDisableModules)
	}
	for i, m := range modules {
		if !KnownModules[m] && !externalModule.MatchString(m) {
			v.addf(fmt.Sprintf("%s[%d]", path, i), "unknown module %q", m)
		}
	}
}

// Validate reports every way d breaks the V3 contract, joined with
// errors.Join; each problem is a *FieldError. It returns nil for a valid
// document. Nil required arrays are accepted, since they marshal as [].
func (d *Document) Validate() error {
	if d == nil {
		return &FieldError{Path: "(document)", Problem: "is nil"}
	}
	var v validator
	if d.Version != Version {
		v.addf("version", "must be %q, got %q", Version, d.Version)
	}
	d.Information.validate(&v)
	d.Validation.validate(&v)

	seen := make(map[string]bool, len(d.GrantedModules))
	for i, m := range d.GrantedModules {
		path := fmt.Sprintf("grantedModules[%d].module", i)
		switch {
		case m.External && !externalModule.MatchString(m.Module):
			v.addf(path, "external module %q is not of the form <vendor>.<name>", m.Module)
		case !m.External && !KnownModules[m.Module]:
			v.addf(path, "unknown module %q", m.Module)
		case seen[m.Module]:
			v.addf(path, "duplicate module %q", m.Module)
		}
		seen[m.Module] = true
	}

	d.Limits.each(func(name string, ls []Limit) {
		for i, l := range ls {
			path := fmt.Sprintf("limits.%s[%d]", name, i)
			if l.Max < 0 {
				v.addf(path+".max", "must be >= 0, got %d", l.Max)
			}
			v.behavior(path+".behavior", l.Behavior)
			if name == "roomsPerGuest" && behaviors[l.Behavior] && l.Behavior != BehaviorPreventAction {
				v.addf(path+".behavior", "must be %s, got %q", BehaviorPreventAction, l.Behavior)
			}
			v.moduleRefs(path+".modules", l.Behavior, l.Modules)
		}
	})

	if m := d.CloudMeta; m != nil {
		if m.PlanVersion < 0 {
			v.addf("cloudMeta.planVersion", "must be >= 0, got %d", m.PlanVersion)
		}
		if m.Sequence < 0 {
			v.addf("cloudMeta.sequence", "must be >= 0, got %d", m.Sequence)
		}
	}
	if len(d.SupportedVersions) > 0 {
		if s := bytes.TrimSpace(d.SupportedVersions); !json.Valid(s) || s[0] != '{' {
			v.addf("supportedVersions", "must be a JSON object")
		}
	}
	return errors.Join(v.errs...)
}

func (in *Information) validate(v *validator) {
	if in.ID == "" {
		v.addf("information.id", "is required")
	}
	if in.CreatedAt == "" {
		v.addf("information.createdAt", "is required")
	}
	v.time("information.createdAt", in.CreatedAt)
	v.time("information.visualExpiration", in.VisualExpiration)
	v.time("information.notifyAdminsAt", in.NotifyAdminsAt)
	v.time("information.notifyUsersAt", in.NotifyUsersAt)
	if !grantMethods[in.GrantedBy.Method] {
		v.addf("information.grantedBy.method", "unknown method %q", in.GrantedBy.Method)
	}
	for i, t := range in.Tags {
		if t.Name == "" {
			v.addf(fmt.Sprintf("information.tags[%d].name", i), "is required")
		}
	}
}

func (val *Validation) validate(v *validator) {
	for i, u := range val.ServerURLs {
		u.validate(v, fmt.Sprintf("validation.serverUrls[%d]", i))
	}
	for i, sv := range val.ServerVersions {
		if sv.Value == "" {
			v.addf(fmt.Sprintf("validation.serverVersions[%d].value", i), "is required")
		}
	}
	for i, p := range val.ValidPeriods {
		path := fmt.Sprintf("validation.validPeriods[%d]", i)
		if p.ValidFrom == "" && p.ValidUntil == "" {
			v.addf(path, "needs validFrom or validUntil")
		}
		v.time(path+".validFrom", p.ValidFrom)
		v.time(path+".validUntil", p.ValidUntil)
		if from, err := ParseTime(p.ValidFrom); err == nil {
			if until, err := ParseTime(p.ValidUntil); err == nil && until.Before(from) {
				v.addf(path, "validUntil %s is before validFrom %s", p.ValidUntil, p.ValidFrom)
			}
		}
		v.behavior(path+".invalidBehavior", p.InvalidBehavior)
		v.moduleRefs(path+".modules", p.InvalidBehavior, p.Modules)
	}
	if a := val.LegalTextAgreement; a != nil {
		switch a.Type {
		case LegalTextRequired, LegalTextNotRequired, LegalTextAccepted:
		default:
			v.addf("validation.legalTextAgreement.type", "unknown type %q", a.Type)
		}
		if a.AcceptedVia != "" && a.AcceptedVia != "cloud" {
			v.addf("validation.legalTextAgreement.acceptedVia", `must be "cloud", got %q`, a.AcceptedVia)
		}
	}
	switch r := val.StatisticsReport; {
	case r == nil:
		v.addf("validation.statisticsReport", "is required")
	case r.AllowedStaleInDays != nil && *r.AllowedStaleInDays < 0:
		v.addf("validation.statisticsReport.allowedStaleInDays", "must be >= 0, got %d", *r.AllowedStaleInDays)
	}
}

func (u ServerURL) validate(v *validator, path string) {
	if u.Value == "" {
		v.addf(path+".value", "is required")
	} else if strings.TrimSpace(u.Value) != u.Value {
		v.addf(path+".value", "has surrounding whitespace: %q", u.Value)
	}
	switch u.Type {
	case URLTypeURL:
		if strings.Contains(u.Value, "://") {
			v.addf(path+".value", "must not carry a scheme: %q", u.Value)
		}
		if strings.HasSuffix(u.Value, "/") {
			v.addf(path+".value", "must not end with a slash: %q", u.Value)
		}
	case URLTypeRegex:
		if i := strings.IndexAny(u.Value, regexMeta); i >= 0 {
			v.addf(path+".value", "only '.' and '*' are allowed as patterns, found %q", u.Value[i])
		}
	case URLTypeHash:
		if !isLowerHexSHA256(u.Value) {
			v.addf(path+".value", "must be a lower-case hex SHA-256, got %q", u.Value)
		}
	default:
		v.addf(path+".type", "unknown type %q", u.Type)
	}
}

func isLowerHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
