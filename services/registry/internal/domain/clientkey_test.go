package domain_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/cloudlicense/authority/pkg/validate"
	"github.com/cloudlicense/authority/services/registry/internal/domain"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

const goodKeyJSON = `{"uniqueId":"u-1","workspaceId":"","address":"https://chat.example.com","siteName":"Chat","contactEmail":"admin@example.com","seats":12,"MAC":3,"version":"7.2.1","licenseVersion":3,"setupComplete":true,"unknownField":{"kept":1}}`

func TestParseClientKey(t *testing.T) {
	t.Parallel()
	d, err := domain.ParseClientKey(b64(goodKeyJSON))
	if err != nil {
		t.Fatalf("ParseClientKey: %v", err)
	}
	if d.UniqueID != "u-1" || d.Address != "https://chat.example.com" || d.Version != "7.2.1" || d.Seats != 12 || d.SiteName != "Chat" || d.RawJSON != goodKeyJSON {
		t.Fatalf("data = %+v", d)
	}
	// Line breaks (a pasted key), the URL alphabet and no padding decode too.
	wrapped := b64(goodKeyJSON)
	wrapped = wrapped[:40] + "\n" + wrapped[40:] + "\n"
	for _, key := range []string{wrapped, base64.RawURLEncoding.EncodeToString([]byte(goodKeyJSON))} {
		if _, err := domain.ParseClientKey(key); err != nil {
			t.Errorf("ParseClientKey(%.20q...): %v", key, err)
		}
	}
}

func TestParseClientKeyNamesEveryProblem(t *testing.T) {
	t.Parallel()
	good := b64(goodKeyJSON)
	cases := []struct {
		name, key    string
		field, words string
	}{
		{"empty", "  \n", "client_key", "empty"},
		{"not base64", "not*base64!", "client_key", "not base64: illegal character"},
		{"truncated base64", good[:len(good)-3], "client_key", "not base64: truncated"},
		{"not UTF-8", base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe, '{'}), "client_key", "not UTF-8"},
		{"not JSON", b64("uniqueId=u-1"), "client_key", "not JSON"},
		{"truncated JSON", b64(goodKeyJSON[:40]), "client_key", "not JSON: truncated"},
		{"trailing data", b64(goodKeyJSON + " {}"), "client_key", "data after the JSON object"},
		{"array", b64(`[1,2]`), "client_key", "not a JSON object but an array"},
		{"string", b64(`"hello"`), "client_key", "not a JSON object but a string"},
		{"null", b64(`null`), "client_key", "not a JSON object but null"},
		{"missing uniqueId", b64(`{"address":"https://a.example","version":"7.0.0"}`), "uniqueId", "required"},
		{"missing address", b64(`{"uniqueId":"u","version":"7.0.0"}`), "address", "required"},
		{"missing version", b64(`{"uniqueId":"u","address":"https://a.example"}`), "version", "required"},
		{"address not a URL", b64(`{"uniqueId":"u","address":"chat","version":"7.0.0"}`), "address", "http(s) URL"},
		{"uniqueId a number", b64(`{"uniqueId":5,"address":"https://a.example","version":"7.0.0"}`), "uniqueId", "must be a string, not a number"},
		{"seats a string", b64(`{"uniqueId":"u","address":"https://a.example","version":"7.0.0","seats":"12"}`), "seats", "must be a number, not a string"},
		{"seats negative", b64(`{"uniqueId":"u","address":"https://a.example","version":"7.0.0","seats":-1}`), "seats", "integer between 0"},
		{"seats fractional", b64(`{"uniqueId":"u","address":"https://a.example","version":"7.0.0","seats":1.5}`), "seats", "integer between 0"},
		{"flag a string", b64(`{"uniqueId":"u","address":"https://a.example","version":"7.0.0","setupComplete":"yes"}`), "setupComplete", "must be a boolean"},
		{"too large", strings.Repeat("A", base64.StdEncoding.EncodedLen(domain.MaxClientKeyBytes)+4), "client_key", "too large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := domain.ParseClientKey(c.key)
			if !errors.Is(err, domain.ErrInvalidClientKey) {
				t.Fatalf("error %v is not ErrInvalidClientKey", err)
			}
			for _, f := range validate.Fields(err) {
				if f.Field == c.field && strings.Contains(f.Reason, c.words) {
					return
				}
			}
			t.Fatalf("error %q does not name %s with %q", err, c.field, c.words)
		})
	}
}

// FuzzParseClientKey: any input gives data or an ErrInvalidClientKey naming
// at least one field, never a panic; accepted data has its required fields.
func FuzzParseClientKey(f *testing.F) {
	for _, s := range []string{
		b64(goodKeyJSON), "", "====", "not*base64", b64("{"), b64(`[]`), b64(`{"uniqueId":1}`),
		b64(`{"uniqueId":"u","address":"https://a.example","version":"7"}`), b64(`{"seats":1e309}`), b64("\xff"),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		d, err := domain.ParseClientKey(key)
		if err != nil {
			if !errors.Is(err, domain.ErrInvalidClientKey) || len(validate.Fields(err)) == 0 {
				t.Fatalf("error %v names no field or is not ErrInvalidClientKey", err)
			}
			return
		}
		if d.UniqueID == "" || d.Address == "" || d.Version == "" {
			t.Fatalf("accepted data without a required field: %+v", d)
		}
	})
}
