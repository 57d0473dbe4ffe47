package testenv_test

import (
	"net/smtp"
	"strings"
	"testing"

	"github.com/cloudlicense/authority/pkg/testenv"
)

func TestSMTPServerReceives(t *testing.T) {
	t.Parallel()
	s := testenv.StartSMTP(t)
	msg := "From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\n.line starting with a dot\r\nbody\r\n"
	if err := smtp.SendMail(s.Addr, nil, "a@example.com", []string{"b@example.com"}, []byte(msg)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	m := <-s.C
	if m.From != "a@example.com" || len(m.To) != 1 || m.To[0] != "b@example.com" {
		t.Fatalf("envelope = %+v", m)
	}
	parsed, err := m.Message()
	if err != nil || parsed.Header.Get("Subject") != "hi" {
		t.Fatalf("message = %v, %v", parsed, err)
	}
	if !strings.Contains(m.Data, "\r\n.line starting with a dot") {
		t.Fatalf("dot-stuffing not undone: %q", m.Data)
	}
	s.FailData(true)
	if err := smtp.SendMail(s.Addr, nil, "a@example.com", []string{"b@example.com"}, []byte(msg)); err == nil {
		t.Fatal("a failing server accepted the mail")
	}
	if len(s.Mails()) != 1 {
		t.Fatalf("%d mails kept, want 1", len(s.Mails()))
	}
}
