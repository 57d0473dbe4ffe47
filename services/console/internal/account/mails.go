package account

import (
	"fmt"
	"net/url"

	"github.com/cloudlicense/authority/pkg/mail"
)

// The console's e-mails. Each links to a page of the console at base (its
// PUBLIC_URL); the one-time secret travels only in the link.

// VerifyMail asks a new account's owner to prove the address.
func VerifyMail(id, to, base, token string) mail.Message {
	return mail.Message{ID: id, To: to, Subject: "Verify your e-mail address for the cloud console",
		Body: fmt.Sprintf(`Hello,

Someone (we hope you) signed up for the cloud console with this address.
To verify it and create your organization, open:

%s

The link works once, within 24 hours. If you did not sign up, ignore this
message: nothing happens without the link.
`, base+"/verify?token="+url.QueryEscape(token))}
}

// AlreadyRegisteredMail answers a sign-up for an address that has an
// account: the page said the same as for a new one (so it tells nobody
// which addresses have accounts), and the owner learns what happened.
func AlreadyRegisteredMail(id, to, base string) mail.Message {
	return mail.Message{ID: id, To: to, Subject: "You already have a cloud console account",
		Body: fmt.Sprintf(`Hello,

Someone tried to sign up for the cloud console with this address, which
already has an account. Sign in at:

%s

If you forgot your password, choose a new one at:

%s
`, base+"/signin", base+"/reset")}
}

// ResetMail carries a password-reset link.
func ResetMail(id, to, base, token string) mail.Message {
	return mail.Message{ID: id, To: to, Subject: "Choose a new password for the cloud console",
		Body: fmt.Sprintf(`Hello,

Someone asked to reset the password of the cloud console account of this
address. To choose a new password, open:

%s

The link works once, within an hour. If you did not ask, ignore this
message: your password stays as it is.
`, base+"/reset/confirm?token="+url.QueryEscape(token))}
}

// InviteMail tells a new member how to choose a password.
func InviteMail(id, to, base, token, org string) mail.Message {
	return mail.Message{ID: id, To: to, Subject: "You were added to " + org + " on the cloud console",
		Body: fmt.Sprintf(`Hello,

You were added to the organization %q on the cloud console. To choose
your password and sign in, open:

%s

The link works once, within an hour; after that, ask for a new one at
%s.
`, org, base+"/reset/confirm?token="+url.QueryEscape(token), base+"/reset")}
}

// AddedMail tells an existing account it joined an organization.
func AddedMail(id, to, base, org string) mail.Message {
	return mail.Message{ID: id, To: to, Subject: "You were added to " + org + " on the cloud console",
		Body: fmt.Sprintf(`Hello,

You were added to the organization %q on the cloud console. Sign in at:

%s
`, org, base+"/signin")}
}
