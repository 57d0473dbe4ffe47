package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/cloudlicense/authority/pkg/license"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
)

// versionsCache keeps the last supported-versions document the signer
// returned, and when.
type versionsCache struct {
	mu  sync.Mutex
	doc []byte
	at  time.Time
}

func (c *versionsCache) get() ([]byte, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.doc, c.at
}

func (c *versionsCache) put(doc []byte, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at.After(c.at) {
		c.doc, c.at = doc, at
	}
}

// supportedVersions is GET BASE/v2/server/supportedVersions (PROTOCOL.md
// section 7): the signed supported-versions document. Any bearer is ignored.
// The document is kept for Options.VersionsCacheTTL; when the signer cannot
// be reached, the last document it returned is served however old it is,
// and without one the answer is 503.
func (a *API) supportedVersions(w http.ResponseWriter, r *http.Request) {
	if doc, ok := a.workspaceVersions(r); ok {
		writeDocument(w, doc)
		return
	}
	doc, at := a.versions.get()
	if doc == nil || time.Since(at) >= a.opts.VersionsCacheTTL {
		fetched := time.Now()
		resp, err := a.up.Signer.GetSupportedVersions(r.Context(), &signerv1.GetSupportedVersionsRequest{})
		if err == nil && !json.Valid([]byte(resp.GetDocumentJson())) {
			err = errors.New("the signer's supported-versions document is not JSON")
		}
		switch {
		case err == nil:
			doc = []byte(resp.GetDocumentJson())
			a.versions.put(doc, fetched)
		case doc != nil:
			a.log.WarnContext(r.Context(), "supported versions: serving the cached document", "age", time.Since(at).Round(time.Second).String(), "error", err)
		default:
			a.log.ErrorContext(r.Context(), "supported versions", "error", err)
			writeError(w, protocolError{http.StatusServiceUnavailable, "temporarily_unavailable", "the supported versions are temporarily unavailable, retry later"})
			return
		}
	}
	writeDocument(w, doc)
}

func writeDocument(w http.ResponseWriter, doc []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
}

// workspaceVersions is the document of the workspace whose access token
// comes with the request (the bearer is optional): with the exceptions in
// force for it, its uniqueId and site address (from its last usage report).
// Without a token that verifies, or when that document cannot be had, the
// caller serves the shared one: a version check is no reason to fail.
func (a *API) workspaceVersions(r *http.Request) ([]byte, bool) {
	token, ok := bearerToken(r)
	if !ok {
		return nil, false
	}
	claims, err := a.verifier.Verify(r.Context(), token)
	if err != nil {
		return nil, false
	}
	req := &signerv1.GetSupportedVersionsRequest{WorkspaceId: claims.WorkspaceID()}
	if usage, err := a.up.Sync.GetUsage(r.Context(), &syncv1.GetUsageRequest{WorkspaceId: claims.WorkspaceID()}); err == nil {
		req.UniqueId = usage.GetLatest().GetUniqueId()
		req.Domain = license.StripAddress(usage.GetLatest().GetAddress())
	}
	resp, err := a.up.Signer.GetSupportedVersions(r.Context(), req)
	if err == nil && resp.GetShared() {
		return nil, false // no exception of its own: the shared document is its
	}
	if err != nil || !json.Valid([]byte(resp.GetDocumentJson())) {
		a.log.WarnContext(r.Context(), "supported versions of a workspace: serving the shared document", "error", err)
		return nil, false
	}
	return []byte(resp.GetDocumentJson()), true
}
