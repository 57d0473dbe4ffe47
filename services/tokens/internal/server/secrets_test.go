package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/cloudlicense/authority/pkg/authn"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
)

// Every kind of secret the token service hands out carries at least 128
// random bits, differs from every other, and is stored only as its SHA-256:
// no row of any table in the schema (outbox included) holds the secret, in
// text or in hex, and some row holds its hash.
func TestSecretsStoredAsHashes(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := t.Context()
	secrets := map[string]string{} // secret -> prefix
	for range 3 {
		_, tok := e.newToken(t, nil)
		secrets[tok] = "rt_"
		creds, err := e.svc.IssueWorkspaceCredentials(ctx, &tokensv1.IssueWorkspaceCredentialsRequest{WorkspaceId: "ws-" + tok[3:11], ClientName: "Chat"})
		if err != nil {
			t.Fatal(err)
		}
		secrets[creds.GetClientSecret()] = "cs_"
		key, err := e.admin.CreateAPIKey(ctx, &tokensv1.CreateAPIKeyRequest{Name: "k", Role: string(authn.RoleSupport)})
		if err != nil {
			t.Fatal(err)
		}
		secrets[key.GetKey()] = "lak_"
	}
	if len(secrets) != 9 {
		t.Fatalf("%d distinct secrets from 9 issued", len(secrets))
	}

	var rows []string
	tables, err := e.pool.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var n string
		if err := tables.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := tables.Err(); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		r, err := e.pool.Query(ctx, `SELECT t::text FROM `+n+` t`)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var s string
			if err := r.Scan(&s); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, n+": "+s)
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
	}
	all := strings.Join(rows, "\n")
	for secret, prefix := range secrets {
		assertSecret(t, secret, prefix)
		if strings.Contains(all, secret) || strings.Contains(all, hex.EncodeToString([]byte(secret))) {
			t.Errorf("a %s secret is stored as it is", prefix)
		}
		sum := sha256.Sum256([]byte(secret))
		if !strings.Contains(all, hex.EncodeToString(sum[:])) {
			t.Errorf("no row holds the hash of a %s secret", prefix)
		}
	}
}
