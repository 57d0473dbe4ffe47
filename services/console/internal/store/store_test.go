package store_test

import (
	"context"
	"errors"
	"mime"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	sendmail "github.com/cloudlicense/authority/pkg/mail"
	"github.com/cloudlicense/authority/pkg/pgdb"
	"github.com/cloudlicense/authority/pkg/testenv"
	"github.com/cloudlicense/authority/services/console/internal/account"
	"github.com/cloudlicense/authority/services/console/internal/store"
)

const base = "https://console.example.com"

func open(t *testing.T) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	ctx := t.Context()
	pool, err := pgdb.Open(ctx, testenv.NewDatabase(t), "console", 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pgdb.Migrate(ctx, pool, "console", pgdb.Source{Name: "console", FS: store.Migrations()}); err != nil {
		t.Fatal(err)
	}
	return store.New(pool, base), pool
}

// sent delivers the queue through a real SMTP exchange (the shared
// sender) and returns the mails the server received.
func sent(t *testing.T, st *store.Store, srv *testenv.SMTPServer) []testenv.Mail {
	t.Helper()
	sender, err := sendmail.NewSMTPSender(sendmail.SMTP{Addr: srv.Addr, From: "Console <console@example.com>"})
	if err != nil {
		t.Fatal(err)
	}
	for {
		due, err := st.SendNextMail(t.Context(), func(m sendmail.Message) error { return sender.Send(t.Context(), m) })
		if err != nil {
			t.Fatal(err)
		}
		if !due {
			return srv.Mails()
		}
	}
}

var tokenPattern = regexp.MustCompile(`token=([A-Za-z0-9_%-]+)`)

func link(t *testing.T, m testenv.Mail) (subject, token string) {
	t.Helper()
	msg, err := m.Message()
	if err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := msg.Body.Read(buf)
		body.Write(buf[:n])
		if err != nil {
			break
		}
	}
	dec := new(mime.WordDecoder)
	subject, _ = dec.DecodeHeader(msg.Header.Get("Subject"))
	if mm := tokenPattern.FindStringSubmatch(body.String()); mm != nil {
		token = strings.ReplaceAll(mm[1], "%2B", "+")
	}
	return subject, token
}

// A sign-up queues a verification link in its transaction; the link
// verifies once, and a second sign-up of the address changes nothing but
// tells the owner.
func TestSignUpVerifyAndLinks(t *testing.T) {
	t.Parallel()
	st, pool := open(t)
	ctx := t.Context()
	srv := testenv.StartSMTP(t)
	su := account.SignUp{Email: "alice@example.com", Password: "long enough password", OrgName: "Acme"}
	if err := st.SignUp(ctx, su, account.HashPassword(su.Password)); err != nil {
		t.Fatal(err)
	}
	mails := sent(t, st, srv)
	if len(mails) != 1 || mails[0].To[0] != "alice@example.com" {
		t.Fatalf("mails after sign-up: %+v", mails)
	}
	subject, tok := link(t, mails[0])
	if !strings.Contains(subject, "Verify") || tok == "" {
		t.Fatalf("verification mail %q without a link", subject)
	}
	var body *string
	if err := pool.QueryRow(ctx, `SELECT body FROM console.mail_queue`).Scan(&body); err != nil || body != nil {
		t.Fatalf("a sent mail's body (with its link) is kept: %v %v", body, err)
	}

	a, err := st.CheckToken(ctx, tok, account.PurposeVerify)
	if err != nil || a.Email != "alice@example.com" || a.Verified {
		t.Fatalf("CheckToken = %+v, %v", a, err)
	}
	if _, err := st.CheckToken(ctx, tok, account.PurposeReset); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("a verification link used for a reset: %v", err)
	}
	org, err := st.Verify(ctx, tok, "cus_1")
	if err != nil || org.CustomerID != "cus_1" || org.Name != "Acme" {
		t.Fatalf("Verify = %+v, %v", org, err)
	}
	if _, err := st.Verify(ctx, tok, "cus_2"); !errors.Is(err, account.ErrTokenUsed) {
		t.Fatalf("second use of the link: %v, want ErrTokenUsed", err)
	}

	// A session finds the account and its organization.
	secret, err := st.CreateSession(ctx, a.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, gotOrg, err := st.Session(ctx, secret)
	if err != nil || got.Email != "alice@example.com" || !got.Verified || gotOrg == nil || gotOrg.CustomerID != "cus_1" || gotOrg.Role != "owner" {
		t.Fatalf("Session = %+v %+v %v", got, gotOrg, err)
	}
	if _, _, err := st.Session(ctx, secret+"x"); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("an unknown session: %v", err)
	}

	// Signing up again with the address: same outcome for the caller,
	// the password stays, the owner gets a notice without a link.
	before := a
	if err := st.SignUp(ctx, account.SignUp{Email: "alice@example.com", Password: "another password", OrgName: "Evil"}, account.HashPassword("another password")); err != nil {
		t.Fatal(err)
	}
	mails = sent(t, st, srv)
	subject, tok2 := link(t, mails[1])
	if !strings.Contains(subject, "already have") || tok2 != "" {
		t.Fatalf("second sign-up mail %q (token %q)", subject, tok2)
	}
	after, _ := st.AccountByEmail(ctx, "ALICE@example.com")
	if after.PasswordHash != before.PasswordHash || !account.VerifyPassword(after.PasswordHash, "long enough password") {
		t.Fatal("a sign-up changed an existing account's password")
	}

	// An expired link says so.
	if err := st.RequestReset(ctx, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	_, reset := link(t, sent(t, st, srv)[2])
	if _, err := pool.Exec(ctx, `UPDATE console.email_tokens SET expires_at = now() - interval '1 second' WHERE purpose = 'reset'`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Reset(ctx, reset, account.HashPassword("x")); !errors.Is(err, account.ErrTokenExpired) {
		t.Fatalf("expired reset link: %v", err)
	}
	// Unknown addresses queue nothing.
	if err := st.RequestReset(ctx, "nobody@example.com"); err != nil {
		t.Fatal(err)
	}
	if n := len(sent(t, st, srv)); n != 3 {
		t.Fatalf("%d mails, want 3 (none for an unknown address)", n)
	}
}

// A reset sets the password, counts as verification and ends every session.
func TestResetEndsSessions(t *testing.T) {
	t.Parallel()
	st, _ := open(t)
	ctx := t.Context()
	srv := testenv.StartSMTP(t)
	su := account.SignUp{Email: "bob@example.com", Password: "long enough password", OrgName: "Globex"}
	if err := st.SignUp(ctx, su, account.HashPassword(su.Password)); err != nil {
		t.Fatal(err)
	}
	_, tok := link(t, sent(t, st, srv)[0])
	if _, err := st.Verify(ctx, tok, "cus_b"); err != nil {
		t.Fatal(err)
	}
	a, _ := st.AccountByEmail(ctx, "bob@example.com")
	secret, _ := st.CreateSession(ctx, a.ID, time.Hour)
	if err := st.RequestReset(ctx, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	_, reset := link(t, sent(t, st, srv)[1])
	if _, err := st.Reset(ctx, reset, account.HashPassword("a brand new password")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Session(ctx, secret); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("a session survived the reset: %v", err)
	}
	a, _ = st.AccountByEmail(ctx, "bob@example.com")
	if !account.VerifyPassword(a.PasswordHash, "a brand new password") {
		t.Fatal("the new password does not verify")
	}
	if _, err := st.Reset(ctx, reset, account.HashPassword("again")); !errors.Is(err, account.ErrTokenUsed) {
		t.Fatalf("second use of a reset link: %v", err)
	}
}

// Failures count per key over the window; a good sign-in clears the
// account's.
func TestSignInFailures(t *testing.T) {
	t.Parallel()
	st, pool := open(t)
	ctx := t.Context()
	for range 3 {
		if err := st.RecordSignInFailure(ctx, time.Minute, "account:a", "address:1.2.3.4"); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RecordSignInFailure(ctx, time.Minute, "account:b", "address:1.2.3.4"); err != nil {
		t.Fatal(err)
	}
	counts, err := st.SignInFailures(ctx, time.Minute, "account:a", "account:b", "address:1.2.3.4")
	if err != nil || counts[0] != 3 || counts[1] != 1 || counts[2] != 4 {
		t.Fatalf("counts = %v, %v", counts, err)
	}
	// Failures older than the window no longer count.
	if _, err := pool.Exec(ctx, `UPDATE console.signin_failures SET at = at - interval '2 minutes' WHERE key = 'account:a'`); err != nil {
		t.Fatal(err)
	}
	if c, _ := st.SignInFailures(ctx, time.Minute, "account:a"); c[0] != 0 {
		t.Fatalf("old failures still count: %v", c)
	}
	if err := st.ClearSignInFailures(ctx, "account:b"); err != nil {
		t.Fatal(err)
	}
	if c, _ := st.SignInFailures(ctx, time.Minute, "account:b", "address:1.2.3.4"); c[0] != 0 || c[1] != 4 {
		t.Fatalf("after clearing: %v", c)
	}
}

// A mail the server refuses stays queued with a later attempt time and is
// sent once the server accepts again.
func TestMailRetry(t *testing.T) {
	t.Parallel()
	st, pool := open(t)
	ctx := context.Background()
	srv := testenv.StartSMTP(t)
	if err := st.RequestReset(ctx, "nobody@example.com"); err != nil {
		t.Fatal(err)
	}
	su := account.SignUp{Email: "carol@example.com", Password: "long enough password", OrgName: "Initech"}
	if err := st.SignUp(ctx, su, account.HashPassword(su.Password)); err != nil {
		t.Fatal(err)
	}
	srv.FailData(true)
	if n := len(sent(t, st, srv)); n != 0 {
		t.Fatalf("%d mails accepted by a refusing server", n)
	}
	var attempts int
	var lastError string
	if err := pool.QueryRow(ctx, `SELECT attempts, last_error FROM console.mail_queue WHERE sent_at IS NULL AND next_attempt_at > now()`).Scan(&attempts, &lastError); err != nil || attempts != 1 || lastError == "" {
		t.Fatalf("refused mail: attempts %d error %q (%v)", attempts, lastError, err)
	}
	srv.FailData(false)
	if _, err := pool.Exec(ctx, `UPDATE console.mail_queue SET next_attempt_at = now()`); err != nil {
		t.Fatal(err)
	}
	if n := len(sent(t, st, srv)); n != 1 {
		t.Fatalf("%d mails after the retry, want 1", n)
	}
}
