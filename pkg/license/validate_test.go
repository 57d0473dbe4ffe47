package license

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	hash := "a4f1a7b0e5c7f4c0ab8e1b1d0c8b0e5b9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"
	tests := []struct {
		name   string
		mutate func(d *Document)
		want   string // "" for valid; else the full text of one expected problem
	}{
		{"valid", func(*Document) {}, ""},
		{"version", func(d *Document) { d.Version = "2.0" }, `version: must be "3.0", got "2.0"`},
		{"id", func(d *Document) { d.Information.ID = "" }, "information.id: is required"},
		{"createdAt missing", func(d *Document) { d.Information.CreatedAt = "" }, "information.createdAt: is required"},
		{"createdAt bad", func(d *Document) { d.Information.CreatedAt = "yesterday" }, `information.createdAt: not an ISO-8601 time: "yesterday"`},
		{"createdAt without millis", func(d *Document) { d.Information.CreatedAt = "2025-01-15T10:00:00Z" }, ""},
		{"createdAt with offset", func(d *Document) { d.Information.CreatedAt = "2025-01-15T10:00:00+02:00" }, ""},
		{"notifyAdminsAt bad", func(d *Document) { d.Information.NotifyAdminsAt = "2025-13-01" }, `information.notifyAdminsAt: not an ISO-8601 time: "2025-13-01"`},
		{"grant method", func(d *Document) { d.Information.GrantedBy.Method = "gift" }, `information.grantedBy.method: unknown method "gift"`},
		{"tag name", func(d *Document) { d.Information.Tags = []Tag{{Color: "red"}} }, "information.tags[0].name: is required"},
		{"serverUrls nil", func(d *Document) { d.Validation.ServerURLs = nil }, ""},
		{"serverUrls empty", func(d *Document) { d.Validation.ServerURLs = []ServerURL{} }, ""},
		{"url with scheme", func(d *Document) { d.Validation.ServerURLs[0].Value = "https://chat.example.com" }, `validation.serverUrls[0].value: must not carry a scheme: "https://chat.example.com"`},
		{"url trailing slash", func(d *Document) { d.Validation.ServerURLs[0].Value = "chat.example.com/" }, `validation.serverUrls[0].value: must not end with a slash: "chat.example.com/"`},
		{"url with port and path", func(d *Document) { d.Validation.ServerURLs[0].Value = "chat.example.com:3000/team" }, ""},
		{"url spaces", func(d *Document) { d.Validation.ServerURLs[0].Value = " chat.example.com" }, `validation.serverUrls[0].value: has surrounding whitespace: " chat.example.com"`},
		{"url empty", func(d *Document) { d.Validation.ServerURLs[0].Value = "" }, "validation.serverUrls[0].value: is required"},
		{"url type", func(d *Document) { d.Validation.ServerURLs[0].Type = "glob" }, `validation.serverUrls[0].type: unknown type "glob"`},
		{"regex glob", func(d *Document) { d.Validation.ServerURLs[0] = ServerURL{Value: "*.example.com", Type: URLTypeRegex} }, ""},
		{"regex syntax", func(d *Document) {
			d.Validation.ServerURLs[0] = ServerURL{Value: "chat[0-9].example.com", Type: URLTypeRegex}
		}, `validation.serverUrls[0].value: only '.' and '*' are allowed as patterns, found '['`},
		{"hash", func(d *Document) { d.Validation.ServerURLs[0] = ServerURL{Value: hash, Type: URLTypeHash} }, ""},
		{"hash upper case", func(d *Document) {
			d.Validation.ServerURLs[0] = ServerURL{Value: strings.ToUpper(hash), Type: URLTypeHash}
		}, `validation.serverUrls[0].value: must be a lower-case hex SHA-256, got "` + strings.ToUpper(hash) + `"`},
		{"hash short", func(d *Document) { d.Validation.ServerURLs[0] = ServerURL{Value: hash[:10], Type: URLTypeHash} }, `validation.serverUrls[0].value: must be a lower-case hex SHA-256, got "` + hash[:10] + `"`},
		{"server version", func(d *Document) { d.Validation.ServerVersions = []ServerVersion{{}} }, "validation.serverVersions[0].value: is required"},
		{"periods empty", func(d *Document) { d.Validation.ValidPeriods = nil }, ""},
		{"period without bounds", func(d *Document) {
			d.Validation.ValidPeriods[0].ValidFrom, d.Validation.ValidPeriods[0].ValidUntil = "", ""
		}, "validation.validPeriods[0]: needs validFrom or validUntil"},
		{"period only until", func(d *Document) { d.Validation.ValidPeriods[0].ValidFrom = "" }, ""},
		{"period bad time", func(d *Document) { d.Validation.ValidPeriods[0].ValidUntil = "soon" }, `validation.validPeriods[0].validUntil: not an ISO-8601 time: "soon"`},
		{"period reversed", func(d *Document) { d.Validation.ValidPeriods[0].ValidUntil = "2020-01-01T00:00:00.000Z" }, "validation.validPeriods[0]: validUntil 2020-01-01T00:00:00.000Z is before validFrom 2025-01-15T10:00:00.000Z"},
		{"period behaviour", func(d *Document) { d.Validation.ValidPeriods[0].InvalidBehavior = "x" }, `validation.validPeriods[0].invalidBehavior: unknown behaviour "x"`},
		{"period disable_modules without modules", func(d *Document) { d.Validation.ValidPeriods[0].InvalidBehavior = BehaviorDisableModules }, "validation.validPeriods[0].modules: required by disable_modules"},
		{"period disable_modules", func(d *Document) {
			d.Validation.ValidPeriods[0].InvalidBehavior = BehaviorDisableModules
			d.Validation.ValidPeriods[0].Modules = []string{"auditing", "acme.tickets"}
		}, ""},
		{"period unknown module", func(d *Document) {
			d.Validation.ValidPeriods[0].InvalidBehavior = BehaviorDisableModules
			d.Validation.ValidPeriods[0].Modules = []string{"auditing", "teleport"}
		}, `validation.validPeriods[0].modules[1]: unknown module "teleport"`},
		{"legal text type", func(d *Document) { d.Validation.LegalTextAgreement.Type = "maybe" }, `validation.legalTextAgreement.type: unknown type "maybe"`},
		{"legal text via", func(d *Document) { d.Validation.LegalTextAgreement.AcceptedVia = "fax" }, `validation.legalTextAgreement.acceptedVia: must be "cloud", got "fax"`},
		{"statistics report missing", func(d *Document) { d.Validation.StatisticsReport = nil }, "validation.statisticsReport: is required"},
		{"statistics stale days", func(d *Document) { d.Validation.StatisticsReport.AllowedStaleInDays = new(-1) }, "validation.statisticsReport.allowedStaleInDays: must be >= 0, got -1"},
		{"unknown module", func(d *Document) { d.GrantedModules[0].Module = "teleport" }, `grantedModules[0].module: unknown module "teleport"`},
		{"external without vendor", func(d *Document) { d.GrantedModules[2].Module = "tickets" }, `grantedModules[2].module: external module "tickets" is not of the form <vendor>.<name>`},
		{"known module marked external", func(d *Document) { d.GrantedModules[0].External = true }, `grantedModules[0].module: external module "auditing" is not of the form <vendor>.<name>`},
		{"external name without flag", func(d *Document) { d.GrantedModules[2].External = false }, `grantedModules[2].module: unknown module "acme.tickets"`},
		{"duplicate module", func(d *Document) { d.GrantedModules[1].Module = "auditing" }, `grantedModules[1].module: duplicate module "auditing"`},
		{"every known module", func(d *Document) {
			d.GrantedModules = nil
			for m := range KnownModules {
				d.GrantedModules = append(d.GrantedModules, Module{Module: m})
			}
		}, ""},
		{"negative max", func(d *Document) { d.Limits.ActiveUsers[0].Max = -1 }, "limits.activeUsers[0].max: must be >= 0, got -1"},
		{"limit behaviour", func(d *Document) { d.Limits.GuestUsers[0].Behavior = "shrug" }, `limits.guestUsers[0].behavior: unknown behaviour "shrug"`},
		{"roomsPerGuest behaviour", func(d *Document) { d.Limits.RoomsPerGuest[0].Behavior = BehaviorInvalidateLicense }, `limits.roomsPerGuest[0].behavior: must be prevent_action, got "invalidate_license"`},
		{"limit disable_modules without modules", func(d *Document) { d.Limits.MonthlyActiveContacts[0].Modules = nil }, "limits.monthlyActiveContacts[0].modules: required by disable_modules"},
		{"marketplace apps", func(d *Document) { d.Limits.MarketplaceApps = []Limit{{Max: 0, Behavior: BehaviorPreventInstallation}} }, ""},
		{"plan version", func(d *Document) { d.CloudMeta.PlanVersion = -1 }, "cloudMeta.planVersion: must be >= 0, got -1"},
		{"no cloudMeta", func(d *Document) { d.CloudMeta = nil }, ""},
		{"supported versions not object", func(d *Document) { d.SupportedVersions = json.RawMessage(`[]`) }, "supportedVersions: must be a JSON object"},
		{"supported versions absent", func(d *Document) { d.SupportedVersions = nil }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := sampleDocument()
			tt.mutate(d)
			err := d.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate error = %v, want ErrInvalid", err)
			}
			if !strings.Contains("\n"+err.Error()+"\n", "\n"+tt.want+"\n") {
				t.Errorf("Validate error:\n%v\nwant a line:\n%s", err, tt.want)
			}
		})
	}
}

func TestValidateCollectsAll(t *testing.T) {
	t.Parallel()
	d := sampleDocument()
	d.Version = ""
	d.Information.ID = ""
	d.Limits.ActiveUsers[1].Max = -5
	err := d.Validate()
	var paths []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("problem %v is not a *FieldError", e)
		}
		paths = append(paths, fe.Path)
	}
	if got, want := strings.Join(paths, " "), "version information.id limits.activeUsers[1].max"; got != want {
		t.Errorf("problem paths = %s, want %s", got, want)
	}

	var nilDoc *Document
	if err := nilDoc.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil document: %v", err)
	}
}
