package domain

import (
	"testing"

	"github.com/cloudlicense/authority/pkg/license"
)

func TestParseDefinitionIsStrict(t *testing.T) {
	t.Parallel()
	if _, err := ParseDefinition([]byte(`{"supportPlan": "standard", "validDay": 30}`)); err == nil {
		t.Error("a misspelt member was accepted")
	}
	d, err := ParseDefinition([]byte(`{"limits": {"activeUsers": [{"max": 5, "behavior": "prevent_action"}]}, "validDays": 30, "coverage": "24x7"}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.ValidDays != 30 || d.Coverage != Coverage24x7 || d.Limits.ActiveUsers[0].Max != 5 {
		t.Errorf("definition = %+v", d)
	}
}

func TestPlanValidate(t *testing.T) {
	t.Parallel()
	for _, p := range []Plan{freePlan(), paidPlan()} {
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", p.ID, err)
		}
	}
	broken := map[string]func(*Plan){
		"free without validDays":   func(p *Plan) { p.Free, p.Definition.ValidDays = true, 0 },
		"paid without termDays":    func(p *Plan) { p.Definition.TermDays = 0 },
		"unknown support plan":     func(p *Plan) { p.Definition.SupportPlan = "gold" },
		"unknown coverage":         func(p *Plan) { p.Definition.Coverage = "9x5" },
		"no first-response target": func(p *Plan) { p.Definition.FirstResponseHours.Low = 0 },
		"unknown module":           func(p *Plan) { p.Modules = append(p.Modules, "teleportation") },
		"bad limit behaviour": func(p *Plan) {
			p.Definition.Limits.GuestUsers = []license.Limit{{Max: 1, Behavior: "shrug"}}
		},
		"version 0": func(p *Plan) { p.Version = 0 },
	}
	for name, breakIt := range broken {
		p := paidPlan()
		breakIt(&p)
		if err := p.Validate(); err == nil {
			t.Errorf("%s: Validate passed", name)
		}
	}
}
