package e2e

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudlicense/authority/tests/workspace"
)

// TestSignerKilledMidIssuance kills the signer with SIGKILL while workspaces
// register and sync from changing addresses (each a license to issue), then
// starts it again: every workspace's license sequence is 1..n with no gap and
// no duplicate, and every registration still gets its first license.
func TestSignerKilledMidIssuance(t *testing.T) {
	sys := startSystem(t, false)
	ctx := t.Context()
	ws := workspace.New(sys.GatewayURL)
	token := createToken(t, sys, createCustomer(t, sys, "Chaos"), "", 1000)

	type member struct{ id, access string }
	var mu sync.Mutex
	var members []member
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c, err := ws.Register(ctx, token, "c@chaos.test", "chaos")
				if err != nil {
					continue // the gateway answers 5xx while a dependency is down
				}
				tok, err := ws.Token(ctx, c.ClientID, c.ClientSecret, "")
				if err != nil {
					continue
				}
				mu.Lock()
				members = append(members, member{c.WorkspaceID, tok.AccessToken})
				mu.Unlock()
				for a := range 3 { // each new address is a new license
					_, _ = ws.Sync(ctx, c.WorkspaceID, tok.AccessToken, workspace.RegistrationData{
						UniqueID: "u", Address: fmt.Sprintf("w%d-%d-%d.chaos.test", w, i, a), Version: "7.2.1"})
				}
			}
		})
	}
	db := connect(t, sys.DatabaseURL)
	eventually(t, 30*time.Second, "licenses being issued", func() (bool, error) {
		return scalar(t, db, `SELECT count(*) FROM signer.licenses`) >= 10, nil
	})
	if err := sys.Signal("signer", syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := sys.StartService("signer"); err != nil {
		t.Fatal(err)
	}
	if err := sys.WaitServiceHealthy(ctx, "signer", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "more licenses after the restart", func() (bool, error) {
		return scalar(t, db, `SELECT count(*) FROM signer.licenses WHERE issued_at > now() - interval '2 seconds'`) > 0, nil
	})
	close(stop)
	wg.Wait()

	eventually(t, 60*time.Second, "a first license for every registered workspace", func() (bool, error) {
		n := scalar(t, db, `SELECT count(*) FROM registry.workspaces w WHERE NOT EXISTS (SELECT 1 FROM signer.licenses l WHERE l.workspace_id = w.id)`)
		return n == 0, fmt.Errorf("%d workspaces without a license", n)
	})
	if gaps := scalar(t, db, `SELECT count(*) FROM (SELECT workspace_id, max(sequence) AS m, count(*) AS n, count(DISTINCT sequence) AS d
		FROM signer.licenses GROUP BY workspace_id) s WHERE m <> n OR n <> d`); gaps != 0 {
		t.Fatalf("%d workspaces have a gap or a duplicate in their license sequence", gaps)
	}
	if len(members) == 0 {
		t.Fatal("no workspace registered during the run")
	}
	t.Logf("%d workspaces, %d licenses", len(members), scalar(t, db, `SELECT count(*) FROM signer.licenses`))
}
