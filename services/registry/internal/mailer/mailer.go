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
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/cloudlicense/authority/pkg/events"
	sendmail "github.com/cloudlicense/authority/pkg/mail"
	eventsv1 "github.com/cloudlicense/authority/proto/gen/licensing/events/v1"
	"github.com/cloudlicense/authority/services/registry/internal/domain"
	"github.com/cloudlicense/authority/services/registry/internal/store"
)

// Message and Sender are the shared SMTP path's (pkg/mail).
type (
	Message = sendmail.Message
	Sender  = sendmail.Sender
)

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
