package web

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/rpcerr"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	"github.com/cloudlicense/authority/services/console/internal/account"
)

var funcs = template.FuncMap{
	"when": func(ts *timestamppb.Timestamp) string {
		if ts == nil || !ts.IsValid() || ts.AsTime().IsZero() {
			return "—"
		}
		return ts.AsTime().UTC().Format("2006-01-02 15:04 UTC")
	},
	"day": func(ts *timestamppb.Timestamp) string {
		if ts == nil || !ts.IsValid() || ts.AsTime().IsZero() {
			return "—"
		}
		return ts.AsTime().UTC().Format("2006-01-02")
	},
	"state": func(s registryv1.WorkspaceState) string {
		return strings.ToLower(strings.TrimPrefix(s.String(), "WORKSPACE_STATE_"))
	},
	"subState": func(s signerv1.SubscriptionState) string {
		return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.String(), "SUBSCRIPTION_STATE_")), "_", " ")
	},
	"orDash": func(s string) string {
		if s == "" {
			return "—"
		}
		return s
	},
	"join":  strings.Join,
	"field": func(fe account.FieldErrors, name string) string { return fe.Get(name) },
}

// errNoWorkspace is what a workspace of another organization, or none,
// looks like: the same answer, so ids of other customers reveal nothing.
var errNoWorkspace = status.Error(codes.NotFound, "no such workspace")

// ownWorkspace returns workspace id when it belongs to the member's
// organization.
func (s *Server) ownWorkspace(ctx context.Context, ses session, id string) (*registryv1.Workspace, error) {
	if id == "" || len(id) > 100 {
		return nil, errNoWorkspace
	}
	resp, err := s.api.Registry.GetWorkspace(ctx, &registryv1.GetWorkspaceRequest{Id: id})
	if err != nil {
		if rpcerr.Code(err) == codes.InvalidArgument {
			return nil, errNoWorkspace
		}
		return nil, err
	}
	if resp.GetWorkspace().GetCustomerId() != ses.Org.CustomerID {
		return nil, errNoWorkspace
	}
	return resp.GetWorkspace(), nil
}

type workspaceRow struct {
	WS          *registryv1.Workspace
	Plan        string
	Trial       bool
	Over        []string
	Unavailable bool
}

func (s *Server) workspaces(w http.ResponseWriter, r *http.Request, ses session) {
	ctx, cancel := s.upstreamCtx(r)
	defer cancel()
	resp, err := s.api.Registry.ListWorkspaces(ctx, &registryv1.ListWorkspacesRequest{CustomerId: ses.Org.CustomerID, PageSize: 500})
	if err != nil {
		code, msg := s.upstreamError(r, err)
		s.fail(w, r, code, "Workspaces", msg)
		return
	}
	rows := make([]workspaceRow, len(resp.GetWorkspaces()))
	var wg sync.WaitGroup
	for i, ws := range resp.GetWorkspaces() {
		rows[i].WS = ws
		if ws.GetState() == registryv1.WorkspaceState_WORKSPACE_STATE_DEREGISTERED {
			continue
		}
		wg.Go(func() {
			ent, err := s.api.Subscriptions.GetEntitlement(ctx, &signerv1.GetEntitlementRequest{WorkspaceId: ws.GetId(), CustomerId: ses.Org.CustomerID})
			if err == nil {
				rows[i].Plan, rows[i].Trial = ent.GetEntitlement().GetPlanName(), ent.GetEntitlement().GetTrial()
			} else if rpcerr.Code(err) != codes.NotFound {
				rows[i].Unavailable = true
			}
			u, err := s.api.Sync.GetUsage(ctx, &syncv1.GetUsageRequest{WorkspaceId: ws.GetId(), HistoryLimit: 1})
			if err == nil {
				rows[i].Over = u.GetOver()
			}
		})
	}
	wg.Wait()
	s.render(w, r, http.StatusOK, "workspaces", view{Title: "Workspaces", Notice: doneNotice(r), Data: rows})
}

type workspaceView struct {
	WS           *registryv1.Workspace
	Entitlement  *signerv1.Entitlement
	Licenses     []*signerv1.License
	Usage        *syncv1.GetUsageResponse
	Chart        template.HTML
	TrialPlans   []*signerv1.Plan
	IdemKey      string
	Paid         bool
	Deregistered bool
}

func (s *Server) workspace(w http.ResponseWriter, r *http.Request, ses session) {
	ctx, cancel := s.upstreamCtx(r)
	defer cancel()
	ws, err := s.ownWorkspace(ctx, ses, r.PathValue("id"))
	if err != nil {
		code, msg := s.upstreamError(r, err)
		s.fail(w, r, code, "Workspace", msg)
		return
	}
	v := workspaceView{WS: ws, IdemKey: account.NewID("idem_"),
		Deregistered: ws.GetState() == registryv1.WorkspaceState_WORKSPACE_STATE_DEREGISTERED}
	var wg sync.WaitGroup
	var entErr, licErr error
	wg.Go(func() {
		var resp *signerv1.GetEntitlementResponse
		if resp, entErr = s.api.Subscriptions.GetEntitlement(ctx, &signerv1.GetEntitlementRequest{WorkspaceId: ws.GetId(), CustomerId: ses.Org.CustomerID}); entErr == nil {
			v.Entitlement = resp.GetEntitlement()
		}
	})
	wg.Go(func() {
		var resp *signerv1.ListLicensesResponse
		if resp, licErr = s.api.Signer.ListLicenses(ctx, &signerv1.ListLicensesRequest{WorkspaceId: ws.GetId()}); licErr == nil {
			v.Licenses = resp.GetLicenses()
		}
	})
	wg.Go(func() {
		if u, err := s.api.Sync.GetUsage(ctx, &syncv1.GetUsageRequest{WorkspaceId: ws.GetId(), HistoryLimit: 60}); err == nil {
			v.Usage = u
		}
	})
	wg.Go(func() {
		if p, err := s.api.Signer.ListPlans(ctx, &signerv1.ListPlansRequest{}); err == nil {
			for _, pl := range p.GetPlans() {
				if !pl.GetFree() {
					v.TrialPlans = append(v.TrialPlans, pl)
				}
			}
		}
	})
	wg.Wait()
	for _, err := range []error{entErr, licErr} {
		if err != nil && rpcerr.Code(err) != codes.NotFound {
			code, msg := s.upstreamError(r, err)
			s.fail(w, r, code, "Workspace", msg)
			return
		}
	}
	if e := v.Entitlement; e != nil {
		st := e.GetSubscription().GetState()
		v.Paid = st == signerv1.SubscriptionState_SUBSCRIPTION_STATE_PAID || st == signerv1.SubscriptionState_SUBSCRIPTION_STATE_TRIALING
	}
	if v.Usage != nil {
		v.Chart = usageChart(v.Usage)
	}
	title := ws.GetClientName()
	if title == "" {
		title = ws.GetId()
	}
	s.render(w, r, http.StatusOK, "workspace", view{Title: title, Notice: doneNotice(r), Data: v})
}

// doneNotice is the notice of the action a redirect came from.
func doneNotice(r *http.Request) string {
	return map[string]string{
		"trial":      "Your trial has started. The workspace gets its new license on its next sync.",
		"cancel":     "The subscription is cancelled. The workspace gets the free plan's license on its next sync.",
		"cancel-end": "The subscription will end at the close of its period.",
		"deregister": "The workspace is deregistered. It is told so on its next sync.",
	}[r.URL.Query().Get("done")]
}

// act runs one action on a workspace of the member's organization and
// redirects to its page, or shows the page's refusal.
func (s *Server) act(w http.ResponseWriter, r *http.Request, ses session, done string, call func(ctx context.Context, ws *registryv1.Workspace) error) {
	ctx, cancel := s.upstreamCtx(r)
	defer cancel()
	ws, err := s.ownWorkspace(ctx, ses, r.PathValue("id"))
	if err == nil {
		err = call(ctx, ws)
	}
	if err != nil {
		code, msg := s.upstreamError(r, err)
		s.render(w, r, code, "message", view{Title: "Not done", Error: msg,
			Data: map[string]string{"Link": "/workspaces/" + url.PathEscape(r.PathValue("id")), "LinkText": "Back to the workspace"}})
		return
	}
	http.Redirect(w, r, "/workspaces/"+url.PathEscape(ws.GetId())+"?done="+done, http.StatusSeeOther)
}

func idemKey(r *http.Request, action string) string {
	k := r.PostFormValue("idem")
	if k == "" {
		k = account.NewID("idem_")
	}
	return "console:" + action + ":" + k
}

func (s *Server) startTrial(w http.ResponseWriter, r *http.Request, ses session) {
	s.act(w, r, ses, "trial", func(ctx context.Context, ws *registryv1.Workspace) error {
		plan := r.PostFormValue("plan")
		if plan == "" {
			return rpcerr.InvalidArgument("console", "INVALID_REQUEST", rpcerr.FieldViolation{Field: "plan", Description: "Choose the plan to try."})
		}
		_, err := s.api.Subscriptions.StartTrial(ctx, &signerv1.StartTrialRequest{IdempotencyKey: idemKey(r, "trial"),
			WorkspaceId: ws.GetId(), CustomerId: ses.Org.CustomerID, PlanId: plan, GrantMethod: signerv1.GrantMethod_GRANT_METHOD_SELF_SERVICE})
		return err
	})
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request, ses session) {
	atEnd := r.PostFormValue("when") == "end"
	done := "cancel"
	if atEnd {
		done = "cancel-end"
	}
	s.act(w, r, ses, done, func(ctx context.Context, ws *registryv1.Workspace) error {
		_, err := s.api.Subscriptions.CancelSubscription(ctx, &signerv1.CancelSubscriptionRequest{IdempotencyKey: idemKey(r, "cancel"),
			WorkspaceId: ws.GetId(), CustomerId: ses.Org.CustomerID, AtPeriodEnd: atEnd})
		return err
	})
}

func (s *Server) deregister(w http.ResponseWriter, r *http.Request, ses session) {
	s.act(w, r, ses, "deregister", func(ctx context.Context, ws *registryv1.Workspace) error {
		if r.PostFormValue("confirm") != "yes" {
			return rpcerr.InvalidArgument("console", "INVALID_REQUEST", rpcerr.FieldViolation{Field: "confirm",
				Description: "Tick the box to confirm that the workspace should be deregistered."})
		}
		_, err := s.api.Registry.DeregisterWorkspace(ctx, &registryv1.DeregisterWorkspaceRequest{Id: ws.GetId(),
			Reason: "deregistered in the console by " + ses.Account.Email})
		return err
	})
}

// offlineLicense issues an offline license and sends it as a file to
// save and paste into the air-gapped workspace.
func (s *Server) offlineLicense(w http.ResponseWriter, r *http.Request, ses session) {
	ctx, cancel := s.upstreamCtx(r)
	defer cancel()
	ws, err := s.ownWorkspace(ctx, ses, r.PathValue("id"))
	var resp *signerv1.IssueOfflineLicenseResponse
	if err == nil {
		resp, err = s.api.Signer.IssueOfflineLicense(ctx, &signerv1.IssueOfflineLicenseRequest{IdempotencyKey: idemKey(r, "offline"),
			WorkspaceId: ws.GetId(), CustomerId: ses.Org.CustomerID})
	}
	if err != nil {
		code, msg := s.upstreamError(r, err)
		s.render(w, r, code, "message", view{Title: "Not done", Error: msg,
			Data: map[string]string{"Link": "/workspaces/" + url.PathEscape(r.PathValue("id")), "LinkText": "Back to the workspace"}})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-license-%d.txt"`, ws.GetId(), resp.GetLicense().GetSequence()))
	_, _ = w.Write([]byte(resp.GetLicense().GetToken() + "\n"))
}
