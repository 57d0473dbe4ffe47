// Package mailer sends registration intents' confirmation e-mails. It is a
// durable consumer of the intent events the registry records with each
// intent (and each re-send): a request is sent and recorded in the
// transaction that acknowledges it, so a crash never loses a mail, and a
// redelivered request finds the record and sends nothing. Only a crash
// between the SMTP server's acceptance and the commit repeats a mail; the
// repeat carries the same Message-ID, which mail systems use to drop
// duplicates.
package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/cloudlicense/authority/pkg/events"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/registry/internal/domain"
	"github.com/cloudlicense/authority/services/registry/internal/store"
)

// SMTP says where and as whom mail is sent.
type SMTP struct {
	Addr     string // host:port
	From     string
	Username string
	Password string
	Timeout  time.Duration
}

// Message is one e-mail.
type Message struct {
	ID      string // Message-ID without the angle brackets
	To      string
	Subject string
	Body    string
}

// Sender sends one message.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// SMTPSender sends with net/smtp: STARTTLS when the server offers it, PLAIN
// authentication when a username is set.
type SMTPSender struct{ cfg SMTP }

// NewSMTPSender returns a sender for cfg.
func NewSMTPSender(cfg SMTP) (*SMTPSender, error) {
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("SMTP_ADDR %q: want host:port", cfg.Addr)
	}
	if _, err := mail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("SMTP_FROM %q: not an e-mail address", cfg.From)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &SMTPSender{cfg: cfg}, nil
}

// Send implements Sender.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtp: dial: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	host, _, _ := net.SplitHostPort(s.cfg.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("smtp: greeting: %w", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("smtp: starttls: %w", err)
		}
	}
	if s.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, host)); err != nil {
			return fmt.Errorf("smtp: auth: %w", err)
		}
	}
	from, _ := mail.ParseAddress(s.cfg.From)
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("smtp: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := w.Write(render(s.cfg.From, m)); err != nil {
		return fmt.Errorf("smtp: write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: end of data: %w", err)
	}
	return c.Quit()
}

// render builds the RFC 5322 message with CRLF line ends.
func render(from string, m Message) []byte {
	var b strings.Builder
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", from)
	h("To", m.To)
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Message-ID", "<"+m.ID+">")
	h("Date", time.Now().UTC().Format(time.RFC1123Z))
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n"))
	return []byte(b.String())
}

// ConfirmationLink is the link a mail carries: the verification page with
// the confirmation code.
func ConfirmationLink(verificationURL, code string) string {
	return verificationURL + "?code=" + url.QueryEscape(code)
}

// Compose writes mail number n of an intent.
func Compose(in domain.Intent, n int, link string) Message {
	site := in.Data.SiteName
	if site == "" {
		site = in.Data.Address
	}
	body := fmt.Sprintf(`Hello,

Someone asked to register the workspace %q (%s) with the cloud, with this
e-mail address as its contact.

Security code: %s
(the workspace's setup wizard shows the same code)

To confirm or reject the registration, open:

%s

The request expires at %s. If you did not ask for this, reject it or
ignore this message.
`, site, in.Data.Address, in.UserCode, link, in.ExpiresAt.UTC().Format(time.RFC1123))
	return Message{
		ID:      fmt.Sprintf("%s.%d@registry.licensing", in.ID, n),
		To:      in.Data.ContactEmail,
		Subject: "Confirm the registration of " + site,
		Body:    body,
	}
}

// Durable is the mailer's consumer name.
const Durable = "registry-mailer"

// New returns the mailer's consumer.
func New(js jetstream.JetStream, pool *pgxpool.Pool, st *store.Store, sealer *domain.Sealer, sender Sender, log *slog.Logger) *events.Consumer {
	return events.NewConsumer(js, pool, events.ConsumerConfig{
		Durable: Durable,
		// One filter subject: works on NATS servers before 2.10 too.
		Subjects: []string{"licensing.registration.>"},
		AckWait:  time.Minute,
	}, func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
		var e eventsv1.RegistrationIntentCreated
		if err := proto.Unmarshal(msg.Data, &e); err != nil {
			return events.Poison(err)
		}
		return handle(ctx, tx, st, sealer, sender, &e)
	}, log)
}

func handle(ctx context.Context, tx pgx.Tx, st *store.Store, sealer *domain.Sealer, sender Sender, e *eventsv1.RegistrationIntentCreated) error {
	n := int(e.GetMailNumber())
	req, err := st.MailRequest(ctx, tx, e.GetIntentId(), n)
	if errors.Is(err, domain.ErrIntentNotFound) {
		return events.Poison(err)
	}
	if err != nil {
		return err
	}
	if req.Done {
		return nil
	}
	in := req.Intent
	msgID := fmt.Sprintf("%s.%d@registry.licensing", in.ID, n)
	// A decided or expired intent needs no mail (its code is gone).
	if in.State != domain.IntentPending || !req.Now.Before(in.ExpiresAt) || in.ConfirmCodeSealed == nil {
		return st.RecordMail(ctx, tx, in.ID, n, msgID, "skipped")
	}
	code, err := sealer.Open(in.ID, in.ConfirmCodeSealed)
	if err != nil {
		return events.Poison(err)
	}
	m := Compose(in, n, ConfirmationLink(in.VerificationURL, code))
	if err := sender.Send(ctx, m); err != nil {
		return err
	}
	return st.RecordMail(ctx, tx, in.ID, n, m.ID, "sent")
}
