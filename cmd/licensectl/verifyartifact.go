package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cloudlicense/authority/pkg/artifact"
	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/translog"
)

// verifyArtifact checks a license or a supported-versions document offline
// against a keyset (a JWKS file, or the gateway's JWKS URL) or a bare public
// key, and explains what it found.
func verifyArtifact(ctx context.Context, e *env, args []string) error {
	fs := e.flags(false)
	keysFrom := fs.String("keys", os.Getenv("LICENSING_JWKS"), "the keyset: a JWKS file (licensectl keys export) or URL (BASE/.well-known/jwks.json) (env LICENSING_JWKS)")
	keyFile := fs.String("public-key", "", "instead of -keys: a file with one public key (PEM, or the base64 PUBLIC_LICENSE_KEY_V2 value)")
	keyValue := fs.String("public-key-v2", "", "instead of -keys: the PUBLIC_LICENSE_KEY_V2 value")
	at := fs.String("at", "", "judge validity at this instant (RFC 3339; default now)")
	address := fs.String("address", "", "also check that a license is bound to this site address")
	proof := fs.String("proof", "", "a file with the artifact's issuance-log proof bundle (licensectl offline issue -proof, or log proof -bundle)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	file, err := oneArg(fs.Args(), "FILE (a license RCV3_..., or a supported-versions document; - for standard input)")
	if err != nil {
		return err
	}
	opts := artifact.Options{Address: *address}
	if *at != "" {
		if opts.At, err = time.Parse(time.RFC3339, *at); err != nil {
			return usageError{"-at: " + err.Error()}
		}
	}
	if *proof != "" {
		if opts.Proof, err = os.ReadFile(*proof); err != nil {
			return fmt.Errorf("read proof: %w", err)
		}
	}
	keyset, err := loadKeyset(ctx, *keysFrom, *keyFile, *keyValue)
	if err != nil {
		return err
	}
	opts.Inclusion = translog.BundleChecker{Keyset: keyset}
	var raw []byte
	if file == "-" {
		raw, err = readAll(e)
	} else {
		raw, err = os.ReadFile(file)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	r, err := artifact.Check(raw, keyset, opts)
	if err != nil {
		return err
	}
	if e.output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "%s signed by %s\n", r.Kind, orDash(r.KeyID))
		for _, f := range r.Findings {
			fmt.Fprintln(e.stdout, "  "+f)
		}
	}
	if !r.OK {
		return fmt.Errorf("%s does NOT verify: %s", r.Kind, strings.Join(r.Problems, "; "))
	}
	if e.output != "json" {
		fmt.Fprintln(e.stdout, "VERIFIED")
	}
	return nil
}

func loadKeyset(ctx context.Context, from, keyFile, keyValue string) ([]keys.PublicKey, error) {
	switch {
	case keyFile != "" || keyValue != "":
		text := keyValue
		if keyFile != "" {
			b, err := os.ReadFile(keyFile)
			if err != nil {
				return nil, fmt.Errorf("read public key: %w", err)
			}
			text = string(b)
		}
		pub, err := keys.ParsePublicKey(text)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		return []keys.PublicKey{{Key: pub}}, nil
	case from == "":
		return nil, usageError{"no keyset: pass -keys FILE|URL (or set LICENSING_JWKS), -public-key FILE or -public-key-v2 VALUE"}
	case strings.HasPrefix(from, "http://") || strings.HasPrefix(from, "https://"):
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, from, nil)
		if err != nil {
			return nil, usageError{"-keys: " + err.Error()}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("fetch keyset: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("fetch keyset: %s answered %s", from, resp.Status)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return nil, fmt.Errorf("fetch keyset: %w", err)
		}
		return keys.ParseJWKS(b)
	default:
		b, err := os.ReadFile(from)
		if err != nil {
			return nil, fmt.Errorf("read keyset: %w", err)
		}
		return keys.ParseJWKS(b)
	}
}
