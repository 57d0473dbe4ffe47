package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
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
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
}
