// Package browser drives the cloud console in a real browser: Debian's
// Chromium, headless, through playwright-core (pinned in package.json and
// package-lock.json). The Go test starts the whole authority with the
// console, an SMTP server that keeps the mails, and a small helper server
// through which the browser script reads its e-mails and plays the
// self-managed workspace (over the workspace protocol, as a stock workspace
// does); console.mjs is the script.
package browser

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudlicense/authority/pkg/testenv"
	"github.com/cloudlicense/authority/tests/stack"
	"github.com/cloudlicense/authority/tests/workspace"
)

const chromium = "/usr/bin/chromium"

// TestConsoleInBrowser runs console.mjs: sign-up, the e-mailed link,
// sign-in, online registration with the shown token, the workspace listed
// after its first sync, a trial, a cancellation back to Starter, an offline
// license, offline registration with a pasted client key, and the abuse
// cases (another organization's workspace by URL, enumeration-safe
// sign-up and reset, sign-in rate limits), writing screenshots of the
// main pages to screenshots/.
func TestConsoleInBrowser(t *testing.T) {
	ensureChromium(t)
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	ensureNodeModules(t, dir)

	smtp := testenv.StartSMTP(t)
	sys := startStack(t, "SMTP_ADDR="+smtp.Addr, "SMTP_FROM=Cloud <cloud@example.com>", "INTENT_POLL_INTERVAL=1s")
	helper := startHelper(t, smtp, sys)

	shots := filepath.Join(dir, "screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "console.mjs")
	cmd.Dir = dir
	const password = "correct horse battery"
	cmd.Env = append(os.Environ(), "CONSOLE_URL="+sys.ConsoleURL, "HELPER_URL="+helper, "SCREENSHOTS="+shots, "CHROMIUM="+chromium, "PASSWORD="+password)
	out, err := cmd.CombinedOutput()
	t.Logf("console.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("browser flow failed: %v\n--- console log (end) ---\n%s", err, sys.LogTail("console", 40))
	}
	// No password, session, e-mailed link or CSRF token reaches the
	// console's log.
	logged, err := os.ReadFile(sys.LogFile("console"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{password, "a brand new password", "ses_", "et_", "csrf_", "rt_"} {
		if strings.Contains(string(logged), secret) {
			t.Errorf("the console's log holds %q", secret)
		}
	}
	for _, name := range []string{"signup", "workspaces", "workspace-trial", "workspace-starter", "register-online", "register-offline", "register-confirm", "workspaces-phone", "workspace-phone"} {
		if fi, err := os.Stat(filepath.Join(shots, name+".png")); err != nil || fi.Size() < 1000 {
			t.Errorf("screenshot %s.png missing or empty: %v", name, err)
		}
	}
}

// ensureChromium installs Debian's chromium when it is missing.
func ensureChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromium); err == nil {
		return
	}
	t.Logf("%s is missing: installing Debian's chromium", chromium)
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "chromium"}} {
		cmd := exec.CommandContext(t.Context(), "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("apt-get %s: %v\n%s\n(the browser test needs Debian's chromium at %s)", strings.Join(args, " "), err, out, chromium)
		}
	}
}

// ensureNodeModules installs the pinned playwright-core when missing.
func ensureNodeModules(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err == nil {
		return
	}
	cmd := exec.CommandContext(t.Context(), "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
}

func startStack(t *testing.T, env ...string) *stack.Stack {
	t.Helper()
	dbURL := testenv.NewDatabase(t)
	nats := testenv.StartNATS(t)
	dir := t.TempDir()
	if a := os.Getenv("E2E_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, t.Name())
		_ = os.MkdirAll(dir, 0o700)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	sys, err := stack.Start(ctx, stack.Options{DatabaseURL: dbURL, NATSURL: nats.URL, Dir: dir, Env: env, BinDir: os.Getenv("BIN_DIR"),
		ConsoleConfirms: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Stop)
	return sys
}

var linkPattern = regexp.MustCompile(`https?://\S+`)

// startHelper serves what the browser script cannot do itself:
//
//	GET  /mail?to=ADDR&n=N[&prefix=P]  the N-th mail to ADDR: {"subject", "link"} (the first
//	                         link starting with P; waits up to 30 s)
//	POST /workspace?token=T  a workspace registers with token T, gets an access token and syncs: {"workspaceId"}
//	GET  /clientkey          a fresh air-gapped workspace's client key
//	POST /intent?email=E     a workspace's setup wizard asks to register with contact E
//	                         (PROTOCOL.md 2a): {"user_code", "device_code"}
func startHelper(t *testing.T, smtp *testenv.SMTPServer, sys *stack.Stack) string {
	t.Helper()
	var mu sync.Mutex
	n := 0
	mux := http.NewServeMux()
	mux.HandleFunc("GET /mail", func(w http.ResponseWriter, r *http.Request) {
		to, want := r.URL.Query().Get("to"), 0
		fmt.Sscan(r.URL.Query().Get("n"), &want)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			var got []testenv.Mail
			for _, m := range smtp.Mails() {
				if len(m.To) == 1 && strings.EqualFold(m.To[0], to) {
					got = append(got, m)
				}
			}
			if len(got) >= want && want > 0 {
				msg, err := got[want-1].Message()
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				var body strings.Builder
				buf := make([]byte, 4096)
				for {
					k, err := msg.Body.Read(buf)
					body.Write(buf[:k])
					if err != nil {
						break
					}
				}
				link := ""
				for _, l := range linkPattern.FindAllString(body.String(), -1) {
					if strings.HasPrefix(l, r.URL.Query().Get("prefix")) {
						link = l
						break
					}
				}
				_ = json.NewEncoder(w).Encode(map[string]any{"subject": msg.Header.Get("Subject"), "link": link, "count": len(got)})
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		http.Error(w, "no such mail within 30s", http.StatusNotFound)
	})
	mux.HandleFunc("POST /workspace", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ws := workspace.New(sys.GatewayURL)
		creds, err := ws.Register(ctx, r.URL.Query().Get("token"), "admin@chat.example.com", "Acme Chat")
		if err != nil {
			http.Error(w, "register: "+err.Error(), http.StatusBadGateway)
			return
		}
		tok, err := ws.Token(ctx, creds.ClientID, creds.ClientSecret, "workspace:license:read workspace:stats:write")
		if err != nil {
			http.Error(w, "token: "+err.Error(), http.StatusBadGateway)
			return
		}
		// The second report exceeds the Starter plan's 50 active users.
		for _, seats := range []int64{12, 60} {
			if _, err := ws.Sync(ctx, creds.WorkspaceID, tok.AccessToken, workspace.RegistrationData{UniqueID: "u-" + creds.WorkspaceID,
				WorkspaceID: creds.WorkspaceID, Address: "https://chat.acme.test", SiteName: "Acme Chat", Seats: seats, Version: "7.2.1"}); err != nil {
				http.Error(w, "sync: "+err.Error(), http.StatusBadGateway)
				return
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"workspaceId": creds.WorkspaceID})
	})
	mux.HandleFunc("GET /clientkey", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		data := fmt.Sprintf(`{"uniqueId":"gap-%d","address":"https://chat%d.gap.test/","siteName":"Gap Chat %d","version":"7.2.1","seats":40}`, k, k, k)
		_, _ = w.Write([]byte(base64.StdEncoding.EncodeToString([]byte(data))))
	})
	mux.HandleFunc("POST /intent", func(w http.ResponseWriter, r *http.Request) {
		data, _ := json.Marshal(map[string]any{
			"uniqueId": "wizard-1", "workspaceId": "", "address": "https://wizard.acme.test", "siteName": "Acme Wizard",
			"contactName": "Alice", "contactEmail": r.URL.Query().Get("email"), "seats": 3, "MAC": 0, "accountName": "Acme",
			"version": "7.2.1", "licenseVersion": 3, "setupComplete": false, "connectionDisable": false,
		})
		var out map[string]any
		if _, err := workspace.New(sys.GatewayURL).Do(r.Context(), http.MethodPost, "/api/v2/register/workspace/intent?resent=false", "",
			"application/json", strings.NewReader(string(data)), &out); err != nil {
			http.Error(w, "intent: "+err.Error(), http.StatusBadGateway)
			return
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}
