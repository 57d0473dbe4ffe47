package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	"github.com/cloudlicense/authority/services/gateway/internal/httpapi"
)

func (f *fakes) GetSupportedVersions(context.Context, *signerv1.GetSupportedVersionsRequest) (*signerv1.GetSupportedVersionsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.versionsCalls++
	if f.versionsErr != nil {
		return nil, f.versionsErr
	}
	return &signerv1.GetSupportedVersionsResponse{DocumentJson: f.versionsDoc, Signed: "h.p.s"}, nil
}

const (
	docV1 = `{"timestamp":"2026-11-01T00:00:00.000Z","versions":[{"version":"7.3.0","expiration":"2027-03-08T00:00:00.000Z"}],"signed":"h.p.s"}`
	docV2 = `{"timestamp":"2026-11-20T00:00:00.000Z","versions":[{"version":"7.4.0","expiration":"2027-05-10T00:00:00.000Z"}],"signed":"h.p.s"}`
)

func getVersions(t *testing.T, e *env, header http.Header) map[string]any {
	t.Helper()
	return jsonBody(t, e.do(t, newRequest(t, http.MethodGet, "/v2/server/supportedVersions", "", "", header)), http.StatusOK)
}

func TestSupportedVersionsCached(t *testing.T) {
	t.Parallel()
	e := start(t, envOptions{opts: httpapi.Options{VersionsCacheTTL: time.Hour}})
	e.fakes.set(func(f *fakes) { f.versionsDoc = docV1 })

	// No bearer, or one that is not even a token: the document either way.
	if got := getVersions(t, e, nil); got["timestamp"] != "2026-11-01T00:00:00.000Z" || got["signed"] != "h.p.s" {
		t.Fatalf("document %v", got)
	}
	e.fakes.set(func(f *fakes) { f.versionsDoc = docV2 })
	if got := getVersions(t, e, bearer("not-a-token")); got["timestamp"] != "2026-11-01T00:00:00.000Z" {
		t.Errorf("within the cache TTL the document changed: %v", got)
	}
	e.fakes.mu.Lock()
	calls := e.fakes.versionsCalls
	e.fakes.mu.Unlock()
	if calls != 1 {
		t.Errorf("the signer was asked %d times, want 1", calls)
	}
}

func TestSupportedVersionsUpstreamFailure(t *testing.T) {
	t.Parallel()
	e := start(t, envOptions{})
	e.fakes.set(func(f *fakes) { f.versionsErr = unavailable })
	errorBody(t, e.do(t, newRequest(t, http.MethodGet, "/v2/server/supportedVersions", "", "", nil)), http.StatusServiceUnavailable, "temporarily_unavailable")

	// With TTL 0 every request asks; once a document was served, an outage
	// serves it again.
	e.fakes.set(func(f *fakes) { f.versionsErr, f.versionsDoc = nil, docV1 })
	getVersions(t, e, nil)
	e.fakes.set(func(f *fakes) { f.versionsDoc = docV2 })
	if got := getVersions(t, e, nil); got["timestamp"] != "2026-11-20T00:00:00.000Z" {
		t.Errorf("TTL 0 served a cached document: %v", got)
	}
	e.fakes.set(func(f *fakes) { f.versionsErr = unavailable })
	if got := getVersions(t, e, nil); got["timestamp"] != "2026-11-20T00:00:00.000Z" {
		t.Errorf("during an outage: %v, want the last document", got)
	}
}
