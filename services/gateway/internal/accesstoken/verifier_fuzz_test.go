package accesstoken

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/jws"
)

// FuzzVerify: any string is either refused or is a token the key signed,
// for the workspace audience, not yet expired. Acceptance is checked again
// here, independently of pkg/jws, so a parser that believed a forgery fails.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_750_000_000, 0)
	key := testKeys()[0]
	other := testKeys()[1]
	claims := map[string]any{"iss": "licensing-tokens", "sub": "ws-1", "aud": "workspace", "client_id": "c", "scope": "workspace:license:read", "iat": now.Unix(), "exp": now.Unix() + 60}
	good := signFuzz(f, key, "k1", claims)
	for _, s := range []string{
		good,
		good[:len(good)-2],
		good + "A",
		strings.Replace(good, ".", "..", 1),
		signFuzz(f, other, "k1", claims),
		signFuzz(f, key, "k2", claims),
		signFuzz(f, key, "k1", map[string]any{"sub": "ws-1", "aud": "console", "exp": now.Unix() + 60}),
		signFuzz(f, key, "k1", map[string]any{"sub": "ws-1", "aud": "workspace", "exp": now.Unix()}),
		signFuzz(f, key, "k1", map[string]any{"sub": "", "aud": "workspace", "exp": now.Unix() + 60}),
		signFuzz(f, key, "k1", map[string]any{"sub": "ws-1", "aud": []string{"workspace"}, "exp": now.Unix() + 60}),
		signFuzz(f, key, "k1", map[string]any{"sub": "ws-1", "aud": "workspace", "exp": "never"}),
		b64(`{"alg":"none","kid":"k1"}`) + "." + b64(`{"sub":"ws-1","aud":"workspace","exp":9999999999}`) + ".",
		b64(`{"alg":"HS256","kid":"k1"}`) + "." + b64(`{"sub":"ws-1","aud":"workspace","exp":9999999999}`) + ".AAAA",
		"", ".", "..", "a.b.c", "Bearer " + good,
	} {
		f.Add(s)
	}
	v, _ := verifier(now, map[string]*rsa.PublicKey{"k1": &key.PublicKey}, nil)
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(t.Context(), token)
		if err != nil {
			return
		}
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted %q, which has %d parts", token, len(parts))
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			t.Fatalf("accepted a signature that is not base64url: %q", token)
		}
		digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig) != nil {
			t.Fatalf("accepted %q, which the key did not sign", token)
		}
		if c.Audience != "workspace" || c.WorkspaceID() == "" || c.ExpiresAt <= now.Unix() {
			t.Fatalf("accepted claims %+v", c)
		}
	})
}

func signFuzz(f *testing.F, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	payload, err := json.Marshal(claims)
	if err != nil {
		f.Fatal(err)
	}
	tok, err := jws.Sign(key, kid, payload)
	if err != nil {
		f.Fatal(err)
	}
	return tok
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
