package watch

import (
	"fmt"
	"strconv"

	"github.com/cloudlicense/authority/pkg/license"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
)

// MaxWorkspaceIDs bounds a filter's workspace list, so one request cannot
// make every change cost a large lookup per watcher.
const MaxWorkspaceIDs = 1000

// Label names a filter may select on.
const (
	LabelPlan          = "plan"
	LabelTrial         = "trial"
	LabelSupport       = "support"
	LabelRemoveLicense = "remove-license"
)

var knownLabels = map[string]bool{LabelPlan: true, LabelTrial: true, LabelSupport: true, LabelRemoveLicense: true}

// Filter selects views; its parts combine with AND, an empty one selects all.
type Filter struct {
	CustomerID   string
	WorkspaceIDs map[string]bool
	Labels       map[string]string
}

// NewFilter checks a request's filter and returns it, or the bad fields.
func NewFilter(customerID string, workspaceIDs []string, labels map[string]string) (Filter, []rpcerr.FieldViolation) {
	var bad []rpcerr.FieldViolation
	f := Filter{CustomerID: customerID}
	if len(workspaceIDs) > MaxWorkspaceIDs {
		bad = append(bad, rpcerr.FieldViolation{Field: "workspace_ids", Description: fmt.Sprintf("at most %d workspaces, got %d", MaxWorkspaceIDs, len(workspaceIDs))})
	} else if len(workspaceIDs) > 0 {
		f.WorkspaceIDs = make(map[string]bool, len(workspaceIDs))
		for i, id := range workspaceIDs {
			if domain.ValidateWorkspaceID(id) != nil {
				bad = append(bad, rpcerr.FieldViolation{Field: fmt.Sprintf("workspace_ids[%d]", i), Description: "required, at most 128 characters"})
				continue
			}
			f.WorkspaceIDs[id] = true
		}
	}
	if customerID != "" && (len(customerID) > 128 || !printable(customerID)) {
		bad = append(bad, rpcerr.FieldViolation{Field: "customer_id", Description: "must be at most 128 printable characters"})
	}
	for k, v := range labels {
		field := "labels[" + strconv.Quote(k) + "]"
		switch {
		case !knownLabels[k]:
			bad = append(bad, rpcerr.FieldViolation{Field: field, Description: "unknown label; known: plan, trial, support, remove-license"})
		case v == "":
			bad = append(bad, rpcerr.FieldViolation{Field: field, Description: "must not be empty"})
		case (k == LabelTrial || k == LabelRemoveLicense) && v != "true" && v != "false":
			bad = append(bad, rpcerr.FieldViolation{Field: field, Description: `must be "true" or "false"`})
		}
	}
	if len(labels) > 0 {
		f.Labels = labels
	}
	return f, bad
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// Matches reports whether the filter selects a view with these attributes.
func (f Filter) Matches(a *Attributes) bool {
	if f.WorkspaceIDs != nil && !f.WorkspaceIDs[a.WorkspaceID] {
		return false
	}
	if f.CustomerID != "" && f.CustomerID != a.CustomerID {
		return false
	}
	for k, v := range f.Labels {
		if a.Labels[k] != v {
			return false
		}
	}
	return true
}

// Attributes are what filters select on, read once per change from the view
// and the license it holds (sync keeps no customer or plan of its own: the
// license the signer issued says both).
type Attributes struct {
	WorkspaceID string
	CustomerID  string
	Labels      map[string]string
}

// attributesOf reads a view's attributes. The license is not verified: the
// signer issued it and sync stored it, and only the routing depends on it.
// A view without a readable license has no customer and only the
// remove-license label.
func attributesOf(v *domain.View) *Attributes {
	a := &Attributes{WorkspaceID: v.WorkspaceID, Labels: map[string]string{LabelRemoveLicense: strconv.FormatBool(v.RemoveLicense)}}
	if v.License == "" {
		return a
	}
	doc, _, err := license.ParseUnverified(v.License)
	if err != nil {
		return a
	}
	a.Labels[LabelTrial] = strconv.FormatBool(doc.Information.Trial)
	if m := doc.CloudMeta; m != nil {
		a.CustomerID = m.CustomerID
		if m.PlanID != "" {
			a.Labels[LabelPlan] = m.PlanID
		}
		if m.SupportPlan != "" {
			a.Labels[LabelSupport] = m.SupportPlan
		}
	}
	return a
}
