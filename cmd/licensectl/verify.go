package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cloudlicense/authority/pkg/keys"
	"github.com/cloudlicense/authority/pkg/license"
)

// licenseVerify checks a license file with the public key alone: no network.
func licenseVerify(_ context.Context, e *env, args []string) error {
	fs := e.flags(false)
	keyFile := fs.String("public-key", "", "file with the license public key (PEM, or the base64 PUBLIC_LICENSE_KEY_V2 value)")
	keyValue := fs.String("public-key-v2", os.Getenv("LICENSING_PUBLIC_KEY_V2"), "the PUBLIC_LICENSE_KEY_V2 value (env LICENSING_PUBLIC_KEY_V2)")
	at := fs.String("at", "", "check validity at this instant (RFC 3339; default now)")
	address := fs.String("address", "", "also check that the license is bound to this site address")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	file, err := oneArg(fs.Args(), "FILE (the license, RCV3_..., or - for standard input)")
	if err != nil {
		return err
	}
	when := time.Now()
	if *at != "" {
		if when, err = time.Parse(time.RFC3339, *at); err != nil {
			return usageError{"-at: " + err.Error()}
		}
	}
	keyText := *keyValue
	if *keyFile != "" {
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return fmt.Errorf("read public key: %w", err)
		}
		keyText = string(b)
	}
	if strings.TrimSpace(keyText) == "" {
		return usageError{"no public key: pass -public-key FILE or -public-key-v2 VALUE (or set LICENSING_PUBLIC_KEY_V2)"}
	}
	pub, err := keys.ParsePublicKey(keyText)
	if err != nil {
		return fmt.Errorf("public key: %w", err)
	}
	var raw []byte
	if file == "-" {
		raw, err = readAll(e)
	} else {
		raw, err = os.ReadFile(file)
	}
	if err != nil {
		return fmt.Errorf("read license: %w", err)
	}
	doc, err := license.VerifyWithKey(strings.TrimSpace(string(raw)), pub)
	if err != nil {
		return fmt.Errorf("license does NOT verify: %w", err)
	}
	sum := doc.Summarize(when)
	if *address != "" && !doc.MatchesAddress(*address) {
		sum.Valid = false
		sum.Problems = append(sum.Problems, fmt.Sprintf("not bound to address %q", *address))
	}
	if e.output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return err
		}
	} else {
		printSummary(e, doc, sum, when)
	}
	if !sum.Valid {
		return fmt.Errorf("signature verified, but the license is not valid at %s: %s", when.UTC().Format(time.RFC3339), strings.Join(sum.Problems, "; "))
	}
	return nil
}

func printSummary(e *env, doc *license.Document, s license.Summary, at time.Time) {
	w := e.stdout
	fmt.Fprintln(w, "signature:   verified with the public key")
	fmt.Fprintf(w, "license:     %s\n", s.LicenseID)
	fmt.Fprintf(w, "workspace:   %s\n", orDash(s.WorkspaceID))
	fmt.Fprintf(w, "plan:        %s (%s, version %d)\n", orDash(s.PlanName), orDash(s.PlanID), s.PlanVersion)
	var urls []string
	for _, u := range doc.Validation.ServerURLs {
		urls = append(urls, u.Value+" ("+string(u.Type)+")")
	}
	fmt.Fprintf(w, "bound to:    %s\n", orDash(strings.Join(urls, ", ")))
	fmt.Fprintf(w, "trial:       %t   offline: %t\n", s.Trial, s.Offline)
	fmt.Fprintf(w, "modules:     %s\n", orDash(strings.Join(s.Modules, ", ")))
	var limits []string
	for k, v := range s.Limits {
		limits = append(limits, k+"="+strconv.Itoa(v))
	}
	sort.Strings(limits)
	fmt.Fprintf(w, "limits:      %s\n", orDash(strings.Join(limits, ", ")))
	fmt.Fprintf(w, "valid from:  %s\n", timeOrDash(s.ValidFrom))
	fmt.Fprintf(w, "valid until: %s\n", timeOrDash(s.ValidUntil))
	verdict := "VALID"
	if !s.Valid {
		verdict = "NOT VALID: " + strings.Join(s.Problems, "; ")
	}
	fmt.Fprintf(w, "at %s: %s\n", at.UTC().Format(time.RFC3339), verdict)
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func readAll(e *env) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(e.stdin, 1<<20+1))
	if len(b) > 1<<20 {
		return nil, fmt.Errorf("license larger than 1 MiB")
	}
	return b, err
}
