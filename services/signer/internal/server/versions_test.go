package server_test

import (
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/jws"
	"github.com/cloudlicense/authority/pkg/rpcerr"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
)

type versionsDoc struct {
	Timestamp string `json:"timestamp"`
	Versions  []struct {
		Version    string `json:"version"`
		Expiration string `json:"expiration"`
	} `json:"versions"`
	Signed string `json:"signed"`
}

func supportedVersions(t *testing.T, e env) (versionsDoc, map[string]string) {
	t.Helper()
	resp, err := e.client.GetSupportedVersions(t.Context(), &signerv1.GetSupportedVersionsRequest{}, as(serviceKey))
	if err != nil {
		t.Fatal(err)
	}
	var doc versionsDoc
	if err := json.Unmarshal([]byte(resp.GetDocumentJson()), &doc); err != nil {
		t.Fatalf("document_json: %v", err)
	}
	if doc.Signed != resp.GetSigned() {
		t.Errorf("document signed differs from the response's signed")
	}
	h, payload, err := jws.Verify(resp.GetSigned(), e.keys.KeyFor())
	if err != nil {
		t.Fatalf("signed does not verify: %v", err)
	}
	if h.Alg != "RS256" || h.Kid != e.keys.Key.ID {
		t.Errorf("header %+v, want RS256 and kid %s", h, e.keys.Key.ID)
	}
	var claims versionsDoc
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims.Timestamp != doc.Timestamp || len(claims.Versions) != len(doc.Versions) {
		t.Errorf("payload %+v differs from the document %+v", claims, doc)
	}
	expiry := map[string]string{}
	for _, v := range doc.Versions {
		expiry[v.Version] = v.Expiration
	}
	if len(resp.GetReleases()) != len(doc.Versions) {
		t.Errorf("%d releases, %d versions", len(resp.GetReleases()), len(doc.Versions))
	}
	return doc, expiry
}

func TestSupportedVersions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()

	before, expiry := supportedVersions(t, e)
	if expiry["7.2.0"] != "2026-12-09T00:00:00.000Z" || len(before.Versions) != 6 {
		t.Fatalf("seeded versions %v", expiry)
	}

	rec := &signerv1.RecordReleaseRequest{Version: "7.4.0", ReleasedAt: timestamppb.New(time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC))}
	if _, err := e.client.RecordRelease(ctx, rec, as("billing-key")); rpcerr.Code(err) != codes.PermissionDenied {
		t.Fatalf("billing records a release: %v, want PermissionDenied", err)
	}
	resp, err := e.client.RecordRelease(ctx, rec, as("admin-key"))
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.GetRelease(); r.GetSupportMonths() != 6 || !r.GetExpiration().AsTime().Equal(time.Date(2027, 5, 10, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("recorded %v, want 6 months to 2027-05-10", r)
	}
	after, expiry := supportedVersions(t, e)
	if expiry["7.4.0"] != "2027-05-10T00:00:00.000Z" || after.Versions[len(after.Versions)-1].Version != "7.4.0" {
		t.Errorf("after recording 7.4.0: %v", after.Versions)
	}
	if after.Timestamp <= before.Timestamp {
		t.Errorf("timestamp %s did not move past %s", after.Timestamp, before.Timestamp)
	}

	// The same release again changes nothing; a longer window moves the expiration.
	if _, err := e.client.RecordRelease(ctx, rec, as("admin-key")); err != nil {
		t.Fatal(err)
	}
	if again, _ := supportedVersions(t, e); again.Timestamp != after.Timestamp {
		t.Errorf("recording the same release moved the timestamp to %s", again.Timestamp)
	}
	rec.SupportMonths = 12
	if _, err := e.client.RecordRelease(ctx, rec, as("admin-key")); err != nil {
		t.Fatal(err)
	}
	if _, expiry := supportedVersions(t, e); expiry["7.4.0"] != "2027-11-10T00:00:00.000Z" {
		t.Errorf("after a 12-month window: %s", expiry["7.4.0"])
	}

	for _, tc := range []struct {
		req   *signerv1.RecordReleaseRequest
		field string
	}{
		{&signerv1.RecordReleaseRequest{Version: "7.4", ReleasedAt: rec.ReleasedAt}, "version"},
		{&signerv1.RecordReleaseRequest{Version: "7.4.1"}, "released_at"},
		{&signerv1.RecordReleaseRequest{Version: "7.4.1", ReleasedAt: rec.ReleasedAt, SupportMonths: -3}, "support_months"},
	} {
		_, err := e.client.RecordRelease(ctx, tc.req, as("admin-key"))
		fields := rpcerr.Fields(err)
		if rpcerr.Code(err) != codes.InvalidArgument || len(fields) != 1 || fields[0].Field != tc.field {
			t.Errorf("RecordRelease(%v) = %v, want InvalidArgument naming %s", tc.req, err, tc.field)
		}
	}
}
