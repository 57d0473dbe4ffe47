// Package httpapi is the public HTTP/JSON protocol that stock workspaces speak
// (PROTOCOL.md): routing, request decoding, workspace access-token checks,
// rate limits, and the translation of internal errors into the protocol's
// status codes and error bodies.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/cloudlicense/authority/services/gateway/internal/accesstoken"
	"github.com/cloudlicense/authority/services/gateway/internal/upstream"
)

// Options configure the API.
type Options struct {
	PublicURL string
	// ConsoleURL, when set, is where a registration intent's e-mail sends
	// its reader: the console's confirmation page instead of this one.
	ConsoleURL string
	// RateLimit and RateBurst limit each client address (0: no limit);
	// WorkspaceRateLimit and WorkspaceRateBurst each workspace, by the
	// workspace its access token names. Both are per gateway replica.
	RateLimit          float64
	RateBurst          int
	WorkspaceRateLimit float64
	WorkspaceRateBurst int
	// TrustedProxies are the peers whose X-Forwarded-For names the client.
	TrustedProxies TrustedProxies
	MaxBodyBytes   int64
	UpstreamWait   time.Duration
	// VersionsCacheTTL is how long the supported-versions document is served
	// without asking the signer again (0: every request asks).
	VersionsCacheTTL time.Duration
}

// API serves the workspace protocol.
type API struct {
	up       *upstream.Clients
	verifier *accesstoken.Verifier
	log      *slog.Logger
	opts     Options
	limiter  *limiter
	// wsLimiter limits per workspace.
	wsLimiter *limiter
	versions  versionsCache
}

// New returns the API.
func New(up *upstream.Clients, log *slog.Logger, opts Options) *API {
	return &API{
		up: up, verifier: accesstoken.NewVerifier(up.Tokens), log: log, opts: opts,
		limiter:   newLimiter(opts.RateLimit, opts.RateBurst),
		wsLimiter: newLimiter(opts.WorkspaceRateLimit, opts.WorkspaceRateBurst),
	}
}

// Handler returns the routed, instrumented handler.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, a.limited(a.bounded(h)))
	}
	handle("POST /api/oauth/clients", a.registerWithToken)
	handle("POST /api/oauth/token", a.accessToken)
	handle("POST /api/v2/workspaces/{workspaceId}/sync", a.workspace("workspace:license:read", a.sync))
	handle("POST /api/v2/workspaces/{workspaceId}/client", a.workspace("workspace:client:write", a.legacySync))
	handle("GET /api/v2/workspaces/{workspaceId}/license", a.workspace("workspace:license:read", a.licenseFetch))
	handle("POST /api/v2/workspaces/{workspaceId}/client/downgrade", a.workspace("workspace:client:write", a.downgrade))
	handle("POST /api/v3/comms/workspace", a.workspaceToken("workspace:client:write", a.comms))
	handle("POST /api/v2/register/workspace/pre-intent", a.preIntent)
	handle("POST /api/v2/register/workspace/intent", a.intent)
	handle("GET /api/v2/register/workspace/poll", a.poll)
	handle("POST /api/v2/register/workspace", a.legacyRegister)
	handle("GET "+confirmPath, a.confirmShow)
	handle("POST "+confirmPath, a.confirmDecide)
	handle("GET /v2/server/supportedVersions", a.supportedVersions)
	handle("GET /v1/log/tree-head", a.logTreeHead)
	handle("GET /v1/log/inclusion", a.logInclusion)
	handle("GET /v1/log/consistency", a.logConsistency)
	handle("GET /v1/log/entries", a.logEntries)
	handle("GET /.well-known/jwks.json", a.jwks)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, protocolError{http.StatusNotFound, "not_found", "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	return otelhttp.NewHandler(mux, "gateway", otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
		return r.Method + " " + r.Pattern
	}))
}

// bounded limits the body size and the time an upstream call may take.
func (a *API) bounded(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes)
		ctx, cancel := context.WithTimeout(r.Context(), a.opts.UpstreamWait)
		defer cancel()
		h(w, r.WithContext(ctx))
	}
}

// baseURL is the cloud's base URL as the workspace sees it.
func (a *API) baseURL(r *http.Request) string {
	if a.opts.PublicURL != "" {
		return strings.TrimRight(a.opts.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// workspaceURL is the per-workspace URL handed out at registration.
func (a *API) workspaceURL(r *http.Request, workspaceID string) string {
	return a.baseURL(r) + "/api/v2/workspaces/" + workspaceID
}
