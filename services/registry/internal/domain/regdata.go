package domain

import (
	"errors"
	"net/mail"
	"net/url"
	"strings"

	"github.com/cloudlicense/authority/pkg/validate"
)

// ErrInvalidRegistrationData wraps what is wrong with a workspace's
// registration data (PROTOCOL.md 1); the gateway answers
// invalid_registration_data naming the fields.
var ErrInvalidRegistrationData = errors.New("invalid registration data")

// RegistrationData is what a workspace says about itself.
type RegistrationData struct {
	UniqueID     string
	WorkspaceID  string
	Address      string
	SiteName     string
	ContactName  string
	ContactEmail string
	AccountName  string
	Version      string
	Seats        int64
	RawJSON      string
}

// Normalize trims the text fields.
func (d RegistrationData) Normalize() RegistrationData {
	for _, f := range []*string{&d.UniqueID, &d.WorkspaceID, &d.Address, &d.SiteName, &d.ContactName, &d.ContactEmail, &d.AccountName, &d.Version} {
		*f = strings.TrimSpace(*f)
	}
	return d
}

// Validate checks the required fields; withContact also requires a contact
// e-mail (registration by e-mail confirmation mails it). Every bad field is
// named, wrapped in ErrInvalidRegistrationData.
func (d RegistrationData) Validate(withContact bool) error {
	var errs []error
	if d.UniqueID == "" {
		errs = append(errs, validate.Field("uniqueId", "required"))
	} else if len(d.UniqueID) > 256 {
		errs = append(errs, validate.Field("uniqueId", "longer than 256 characters"))
	}
	if d.Address == "" {
		errs = append(errs, validate.Field("address", "required"))
	} else if u, err := url.Parse(d.Address); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || len(d.Address) > 2048 {
		errs = append(errs, validate.Field("address", "must be the site's http(s) URL"))
	}
	if d.Version == "" {
		errs = append(errs, validate.Field("version", "required"))
	} else if len(d.Version) > 64 {
		errs = append(errs, validate.Field("version", "longer than 64 characters"))
	}
	if d.Seats < 0 {
		errs = append(errs, validate.Field("seats", "must be >= 0"))
	}
	switch {
	case withContact && d.ContactEmail == "":
		errs = append(errs, validate.Field("contactEmail", "required: the confirmation e-mail goes there"))
	case d.ContactEmail != "":
		if a, err := mail.ParseAddress(d.ContactEmail); err != nil || a.Address != d.ContactEmail || len(d.ContactEmail) > 254 {
			errs = append(errs, validate.Field("contactEmail", "not an e-mail address"))
		}
	}
	for _, f := range []struct{ name, v string }{{"siteName", d.SiteName}, {"contactName", d.ContactName}, {"accountName", d.AccountName}} {
		if len(f.v) > 256 {
			errs = append(errs, validate.Field(f.name, "longer than 256 characters"))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(append([]error{ErrInvalidRegistrationData}, errs...)...)
}

// CustomerName is the name of the customer created for a workspace that
// registers by e-mail confirmation and whose contact is no customer's yet:
// the account (organization) name, else the site name, else the contact's
// e-mail domain.
func (d RegistrationData) CustomerName() string {
	switch {
	case d.AccountName != "":
		return d.AccountName
	case d.SiteName != "":
		return d.SiteName
	}
	if at := strings.LastIndexByte(d.ContactEmail, '@'); at >= 0 {
		return d.ContactEmail[at+1:]
	}
	return d.ContactEmail
}
