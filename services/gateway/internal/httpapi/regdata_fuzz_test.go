package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzDecodeRegistrationData feeds arbitrary bodies to the registration data
// decoder the workspace endpoints use. It must never panic, and it either
// accepts a JSON object (returning the body unchanged) or answers 400/413 in
// the protocol's error shape.
func FuzzDecodeRegistrationData(f *testing.F) {
	for _, seed := range []string{
		`{"uniqueId":"u-1","workspaceId":"0123456789abcdef01234567","address":"https://chat.example.com","siteName":"Example","contactName":"Ada","contactEmail":"ada@example.com","seats":42,"MAC":7,"allowMarketing":true,"version":"7.2.1","licenseVersion":3,"enterpriseReady":true,"setupComplete":true,"npsEnabled":false,"connectionDisable":false,"deploymentMethod":"docker"}`,
		`{}`,
		``,
		` `,
		`null`,
		`[]`,
		`"string"`,
		`42`,
		`{"seats":"42"}`,
		`{"seats":-1}`,
		`{"seats":1e400}`,
		`{"seats":9223372036854775808}`,
		`{"MAC":1.5}`,
		`{"uniqueId":{"$ne":null}}`,
		`{"connectionDisable":"yes"}`,
		`{"address":["a","b"]}`,
		`{"uniqueId":"u-1"`,
		`{"uniqueId":"u-1"} trailing`,
		`{"uniqueId":"\ud800"}`,
		"{\"siteName\":\"\xff\xfe\"}",
		`{"a":` + string(bytes.Repeat([]byte(`[`), 2000)) + string(bytes.Repeat([]byte(`]`), 2000)) + `}`,
		string(bytes.Repeat([]byte("x"), 5000)),
	} {
		f.Add([]byte(seed))
	}
	const limit = 4096
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/api/v2/workspaces/x/sync", bytes.NewReader(body))
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		var data registrationData
		raw, perr := decodeJSON(r, &data)
		if perr == nil {
			if !bytes.Equal(raw, body) {
				t.Fatalf("accepted body changed: %q -> %q", body, raw)
			}
			if !json.Valid(raw) || bytes.TrimLeft(raw, " \t\r\n")[0] != '{' {
				t.Fatalf("accepted %q, which is not a JSON object", body)
			}
			return
		}
		switch {
		case len(body) > limit && perr.Status != http.StatusRequestEntityTooLarge:
			t.Fatalf("body of %d bytes: status %d, want 413", len(body), perr.Status)
		case len(body) <= limit && perr.Status != http.StatusBadRequest:
			t.Fatalf("body %q: status %d, want 400", body, perr.Status)
		}
		if perr.Code != "invalid_request" || perr.Description == "" {
			t.Fatalf("body %q: error %+v, want invalid_request with a description", body, perr)
		}
		out, err := json.Marshal(perr)
		if err != nil || !json.Valid(out) {
			t.Fatalf("error body does not encode: %v", err)
		}
	})
}
