package mail_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/cloudlicense/authority/pkg/mail"
	"github.com/cloudlicense/authority/pkg/testenv"
)

// A message arrives through a real SMTP exchange with its headers, UTF-8
// subject and CRLF body intact; a refusal is an error; bad settings are
// named.
func TestSMTPSender(t *testing.T) {
	t.Parallel()
	srv := testenv.StartSMTP(t)
	s, err := mail.NewSMTPSender(mail.SMTP{Addr: srv.Addr, From: "Cloud <cloud@example.com>"})
	if err != nil {
		t.Fatal(err)
	}
	m := mail.Message{ID: "m1@test", To: "ada@example.com", Subject: "Grüße", Body: "line one\nline two\n"}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := <-srv.C
	msg, err := got.Message()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(msg.Body)
	if got.From != "cloud@example.com" || got.To[0] != "ada@example.com" || msg.Header.Get("Message-ID") != "<m1@test>" ||
		!strings.Contains(msg.Header.Get("Subject"), "=?utf-8?") || string(body) != "line one\r\nline two\r\n" {
		t.Fatalf("received %+v, headers %v, body %q", got, msg.Header, body)
	}
	srv.FailData(true)
	if err := s.Send(context.Background(), m); err == nil {
		t.Fatal("a refused message was reported sent")
	}
	for _, bad := range []mail.SMTP{{Addr: "no-port", From: "a@b.c"}, {Addr: "h:25", From: "not an address"}} {
		if _, err := mail.NewSMTPSender(bad); err == nil {
			t.Errorf("NewSMTPSender(%+v) accepted", bad)
		}
	}
}
