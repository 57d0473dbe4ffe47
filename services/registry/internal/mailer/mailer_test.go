package mailer

import (
	"context"
	"net/mail"
	"strings"
	"testing"
	"time"

	sendmail "github.com/cloudlicense/authority/pkg/mail"
	"github.com/cloudlicense/authority/pkg/testenv"
	"github.com/cloudlicense/authority/services/registry/internal/domain"
)

// A composed mail carries the link and the user code, has a Message-ID
// stable per intent and mail number (so a repeat after a crash is the same
// message), and arrives through a real SMTP exchange intact.
func TestComposeAndSend(t *testing.T) {
	t.Parallel()
	in := domain.Intent{ID: "int_1", UserCode: "ABCD-EFGH", ExpiresAt: time.Now().Add(time.Hour),
		Data: domain.RegistrationData{SiteName: "Chät", Address: "https://chat.example.com", ContactEmail: "admin@example.com"}}
	link := ConfirmationLink("https://cloud.example.com/register/confirm", "cc_a+b/c")
	if link != "https://cloud.example.com/register/confirm?code=cc_a%2Bb%2Fc" {
		t.Fatalf("link = %q", link)
	}
	m := Compose(in, 2, link)
	if m2 := Compose(in, 2, link); m2.ID != m.ID || Compose(in, 3, link).ID == m.ID {
		t.Fatal("Message-ID is not stable per intent and mail number")
	}
	srv := testenv.StartSMTP(t)
	s, err := sendmail.NewSMTPSender(sendmail.SMTP{Addr: srv.Addr, From: "Cloud <cloud@example.com>"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := <-srv.C
	msg, err := got.Message()
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
	dec := new(mail.AddressParser)
	if from, err := dec.Parse(msg.Header.Get("From")); err != nil || from.Address != "cloud@example.com" || got.From != "cloud@example.com" {
		t.Fatalf("From = %q (envelope %q)", msg.Header.Get("From"), got.From)
	}
	if msg.Header.Get("Message-ID") != "<"+m.ID+">" || !strings.Contains(body.String(), link) || !strings.Contains(body.String(), "ABCD-EFGH") {
		t.Fatalf("headers %v body %q", msg.Header, body.String())
	}
	srv.FailData(true)
	if err := s.Send(context.Background(), m); err == nil {
		t.Fatal("a refused message was reported sent")
	}
	for _, bad := range []sendmail.SMTP{{Addr: "no-port", From: "a@b.c"}, {Addr: "h:25", From: "not an address"}} {
		if _, err := sendmail.NewSMTPSender(bad); err == nil {
			t.Errorf("NewSMTPSender(%+v) accepted", bad)
		}
	}
}
