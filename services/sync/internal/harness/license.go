package harness

import (
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/license"
)

var signingKey = sync.OnceValues(func() (keys.Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, keys.MinRSABits)
	if err != nil {
		return keys.Key{}, err
	}
	return keys.NewKey(priv)
})

// SignedLicense returns a real license for workspace ws limiting active
// users and monthly active contacts (a max below 0 leaves that kind out),
// as the signer would issue it.
func SignedLicense(t testing.TB, ws string, seq int64, activeUsers, mac int) string {
	t.Helper()
	return SignedLicenseFor(t, ws, seq, activeUsers, mac, license.CloudMeta{})
}

// SignedLicenseFor is SignedLicense whose cloudMeta also carries meta's
// customer, plan and support plan (what watch filters select on).
func SignedLicenseFor(t testing.TB, ws string, seq int64, activeUsers, mac int, meta license.CloudMeta) string {
	t.Helper()
	key, err := signingKey()
	if err != nil {
		t.Fatal(err)
	}
	doc := &license.Document{
		Version: license.Version,
		Information: license.Information{ID: "lic_test", CreatedAt: license.FormatTime(time.Now()),
			GrantedBy: license.GrantedBy{Method: license.GrantedManually}},
		Validation: license.Validation{CloudWorkspaceID: ws, StatisticsReport: &license.StatisticsReport{Required: true},
			ValidPeriods: []license.Period{{ValidUntil: license.FormatTime(time.Now().AddDate(0, 1, 0)), InvalidBehavior: license.BehaviorInvalidateLicense}}},
		CloudMeta: &license.CloudMeta{WorkspaceID: ws, Sequence: seq, CustomerID: meta.CustomerID, PlanID: meta.PlanID, SupportPlan: meta.SupportPlan},
	}
	if activeUsers >= 0 {
		// Two thresholds: the lower one is what a workspace reaches first.
		doc.Limits.ActiveUsers = []license.Limit{{Max: activeUsers + 10, Behavior: license.BehaviorPreventAction}, {Max: activeUsers, Behavior: license.BehaviorStartFairPolicy}}
	}
	if mac >= 0 {
		doc.Limits.MonthlyActiveContacts = []license.Limit{{Max: mac, Behavior: license.BehaviorPreventAction}}
	}
	tok, err := license.Sign(doc, key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
