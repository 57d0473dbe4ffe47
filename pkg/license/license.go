// Package license models the V3 license document that workspaces apply, signs
// it as an "RCV3_" token, and verifies such tokens offline with the public key
// alone.
//
// Times in the document are kept as the ISO-8601 strings that were signed
// rather than as time.Time: a verified document then holds exactly what its
// issuer wrote, and an optional time is simply "". We write them with
// FormatTime (UTC, milliseconds) and read them with ParseTime (any RFC 3339).
package license

import (
	"encoding/json"
	"time"
)

// Version is the only document version this package issues and accepts.
const Version = "3.0"

// Prefix starts every V3 license string; the JWT follows it.
const Prefix = "RCV3_"

// TimeLayout is how this package writes document times: ISO-8601 UTC with
// milliseconds, as JavaScript's Date.prototype.toISOString does.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// FormatTime formats t for the document in UTC with TimeLayout.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime parses a document time. It accepts any RFC 3339 time, with or
// without fractional seconds or a UTC offset, because other issuers write them.
func ParseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

// Behavior is what a workspace does when a period fires or a limit is reached.
type Behavior string

// Behaviors.
const (
	BehaviorInvalidateLicense   Behavior = "invalidate_license"
	BehaviorStartFairPolicy     Behavior = "start_fair_policy"
	BehaviorPreventAction       Behavior = "prevent_action"
	BehaviorAllowAction         Behavior = "allow_action"
	BehaviorPreventInstallation Behavior = "prevent_installation"
	// BehaviorDisableModules disables the modules listed next to it, which are
	// then required.
	BehaviorDisableModules Behavior = "disable_modules"
)

var behaviors = map[Behavior]bool{
	BehaviorInvalidateLicense: true, BehaviorStartFairPolicy: true, BehaviorPreventAction: true,
	BehaviorAllowAction: true, BehaviorPreventInstallation: true, BehaviorDisableModules: true,
}

// GrantMethod says how a license was granted.
type GrantMethod string

// Grant methods.
const (
	GrantedManually      GrantMethod = "manual"
	GrantedBySelfService GrantMethod = "self-service"
	GrantedBySales       GrantMethod = "sales"
	GrantedBySupport     GrantMethod = "support"
	GrantedByReseller    GrantMethod = "reseller"
)

var grantMethods = map[GrantMethod]bool{
	GrantedManually: true, GrantedBySelfService: true, GrantedBySales: true, GrantedBySupport: true, GrantedByReseller: true,
}

// URLType says how a ServerURL value is compared with the workspace address.
type URLType string

// Server URL types.
const (
	URLTypeURL   URLType = "url"
	URLTypeRegex URLType = "regex"
	URLTypeHash  URLType = "hash"
)

// LegalTextAgreementType is the state of the legal text agreement.
type LegalTextAgreementType string

// Legal text agreement types.
const (
	LegalTextRequired    LegalTextAgreementType = "required"
	LegalTextNotRequired LegalTextAgreementType = "not-required"
	LegalTextAccepted    LegalTextAgreementType = "accepted"
)

// KnownModules is the set of workspace modules a license may grant by name.
// Apps' modules are granted as external modules instead. Treat it as read-only.
var KnownModules = map[string]bool{
	"auditing": true, "canned-responses": true, "ldap-enterprise": true, "livechat-enterprise": true,
	"voip-enterprise": true, "omnichannel-mobile-enterprise": true, "engagement-dashboard": true,
	"push-privacy": true, "scalability": true, "teams-mention": true, "saml-enterprise": true,
	"oauth-enterprise": true, "device-management": true, "federation": true,
	"videoconference-enterprise": true, "message-read-receipt": true, "outlook-calendar": true,
	"hide-watermark": true, "custom-roles": true, "accessibility-certification": true,
	"unlimited-presence": true, "contact-id-verification": true, "teams-voip": true,
	"outbound-messaging": true, "abac": true, "fips": true,
}

// Document is the V3 license document, the JWT payload of a license.
type Document struct {
	Version        string      `json:"version"`
	Information    Information `json:"information"`
	Validation     Validation  `json:"validation"`
	GrantedModules []Module    `json:"grantedModules"` // marshalled as [] when nil
	Limits         Limits      `json:"limits"`
	CloudMeta      *CloudMeta  `json:"cloudMeta,omitempty"`
	// SupportedVersions is the signed supported-versions document, embedded as is.
	SupportedVersions json.RawMessage `json:"supportedVersions,omitempty"`
}

// MarshalJSON writes nil required arrays as [], since a workspace iterates them
// and would choke on null.
func (d Document) MarshalJSON() ([]byte, error) {
	type plain Document // drops the method, avoiding recursion
	p := plain(d)
	if p.GrantedModules == nil {
		p.GrantedModules = []Module{}
	}
	return json.Marshal(p)
}

// Information describes the license.
type Information struct {
	ID               string     `json:"id"`
	AutoRenew        bool       `json:"autoRenew"`
	VisualExpiration string     `json:"visualExpiration,omitempty"`
	NotifyAdminsAt   string     `json:"notifyAdminsAt,omitempty"`
	NotifyUsersAt    string     `json:"notifyUsersAt,omitempty"`
	Trial            bool       `json:"trial"`
	Cancellable      *bool      `json:"cancellable,omitempty"`
	Offline          bool       `json:"offline"`
	CreatedAt        string     `json:"createdAt"`
	GrantedBy        GrantedBy  `json:"grantedBy"`
	GrantedTo        *GrantedTo `json:"grantedTo,omitempty"`
	LegalText        string     `json:"legalText,omitempty"`
	Notes            string     `json:"notes,omitempty"`
	Tags             []Tag      `json:"tags,omitempty"`
}

// GrantedBy says who granted the license and how.
type GrantedBy struct {
	Method GrantMethod `json:"method"`
	Seller string      `json:"seller,omitempty"`
}

// GrantedTo names the licensee.
type GrantedTo struct {
	Name    string `json:"name,omitempty"`
	Company string `json:"company,omitempty"`
	Email   string `json:"email,omitempty"`
}

// Tag is a label a workspace shows next to the license.
type Tag struct {
	Name  string `json:"name"`
	Color string `json:"color"`
}

// Validation holds the conditions under which the license is valid.
type Validation struct {
	ServerURLs         []ServerURL         `json:"serverUrls"` // marshalled as [] when nil
	ServerVersions     []ServerVersion     `json:"serverVersions,omitempty"`
	ServerUniqueID     string              `json:"serverUniqueId,omitempty"`
	CloudWorkspaceID   string              `json:"cloudWorkspaceId,omitempty"`
	ValidPeriods       []Period            `json:"validPeriods"` // marshalled as [] when nil
	LegalTextAgreement *LegalTextAgreement `json:"legalTextAgreement,omitempty"`
	StatisticsReport   *StatisticsReport   `json:"statisticsReport"`
}

// MarshalJSON writes nil required arrays as [].
func (v Validation) MarshalJSON() ([]byte, error) {
	type plain Validation
	p := plain(v)
	if p.ServerURLs == nil {
		p.ServerURLs = []ServerURL{}
	}
	if p.ValidPeriods == nil {
		p.ValidPeriods = []Period{}
	}
	return json.Marshal(p)
}

// ServerURL binds the license to a site address; see Matches.
type ServerURL struct {
	Value string  `json:"value"`
	Type  URLType `json:"type"`
}

// ServerVersion restricts the server versions the license applies to.
type ServerVersion struct {
	Value string `json:"value"`
}

// Period is a time window. Outside it, a workspace applies InvalidBehavior
// (to Modules, for BehaviorDisableModules). At least one bound is set.
type Period struct {
	ValidFrom       string   `json:"validFrom,omitempty"`
	ValidUntil      string   `json:"validUntil,omitempty"`
	InvalidBehavior Behavior `json:"invalidBehavior"`
	Modules         []string `json:"modules,omitempty"`
}

// LegalTextAgreement records whether the legal text must be, or was, accepted.
type LegalTextAgreement struct {
	Type        LegalTextAgreementType `json:"type"`
	AcceptedVia string                 `json:"acceptedVia,omitempty"` // "cloud"
}

// StatisticsReport says whether the workspace must report statistics.
type StatisticsReport struct {
	Required           bool `json:"required"`
	AllowedStaleInDays *int `json:"allowedStaleInDays,omitempty"`
}

// Module is a granted module: a name from KnownModules, or an app's
// "<vendor>.<name>" with External set.
type Module struct {
	Module   string `json:"module"`
	External bool   `json:"external,omitempty"`
}

// Limits caps usage. Each kind may carry several limits, for example a
// warning threshold and a hard one.
type Limits struct {
	ActiveUsers           []Limit `json:"activeUsers,omitempty"`
	GuestUsers            []Limit `json:"guestUsers,omitempty"`
	RoomsPerGuest         []Limit `json:"roomsPerGuest,omitempty"` // BehaviorPreventAction only
	PrivateApps           []Limit `json:"privateApps,omitempty"`
	MarketplaceApps       []Limit `json:"marketplaceApps,omitempty"`
	MonthlyActiveContacts []Limit `json:"monthlyActiveContacts,omitempty"`
}

// each calls fn for every limit kind, with its JSON name, in document order.
func (l *Limits) each(fn func(name string, ls []Limit)) {
	fn("activeUsers", l.ActiveUsers)
	fn("guestUsers", l.GuestUsers)
	fn("roomsPerGuest", l.RoomsPerGuest)
	fn("privateApps", l.PrivateApps)
	fn("marketplaceApps", l.MarketplaceApps)
	fn("monthlyActiveContacts", l.MonthlyActiveContacts)
}

// Limit is one threshold: reaching Max triggers Behavior (on Modules, for
// BehaviorDisableModules).
type Limit struct {
	Max      int      `json:"max"`
	Behavior Behavior `json:"behavior"`
	Modules  []string `json:"modules,omitempty"`
}

// CloudMeta is the authority's own bookkeeping, which workspaces ignore: which
// workspace, customer and plan (at which plan version) produced the license,
// its issue sequence, and the support plan it entitles.
type CloudMeta struct {
	WorkspaceID string `json:"workspaceId,omitempty"`
	CustomerID  string `json:"customerId,omitempty"`
	PlanID      string `json:"planId,omitempty"`
	PlanName    string `json:"planName,omitempty"`
	PlanVersion int    `json:"planVersion,omitempty"`
	Sequence    int64  `json:"sequence,omitempty"`
	SupportPlan string `json:"supportPlan,omitempty"`
}
