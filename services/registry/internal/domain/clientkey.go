package domain

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/cloudlicense/authority/pkg/validate"
)

// ErrInvalidClientKey wraps what is wrong with an air-gapped workspace's
// client key (PROTOCOL.md 8); each problem is a validate.FieldError naming
// client_key (for the encoding) or the registration data's field.
var ErrInvalidClientKey = errors.New("invalid client key")

// MaxClientKeyBytes bounds the decoded registration data of a client key; a
// real one is well under 4 KiB.
const MaxClientKeyBytes = 64 << 10

// The registration data's fields by JSON type; others are ignored.
var (
	stringFields = []string{"uniqueId", "workspaceId", "address", "siteName", "contactName", "contactEmail", "accountName",
		"organizationType", "industry", "orgSize", "country", "language", "website", "workspaceType", "deploymentMethod",
		"deploymentPlatform", "version"}
	countFields = []string{"seats", "MAC", "licenseVersion"}
	boolFields  = []string{"allowMarketing", "agreePrivacyTerms", "enterpriseReady", "setupComplete", "npsEnabled", "connectionDisable"}
)

func keyError(format string, args ...any) error {
	return errors.Join(ErrInvalidClientKey, validate.Field("client_key", format, args...))
}

// ParseClientKey decodes a client key: base64 (standard or URL alphabet,
// padded or not, line breaks allowed) of the registration data JSON object.
// Every problem is named: empty, too large, not base64 (with the offset),
// not UTF-8, not JSON (truncated or the syntax error's offset), not an
// object, a field of the wrong type, a required field missing.
func ParseClientKey(key string) (RegistrationData, error) {
	compact := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, key)
	if compact == "" {
		return RegistrationData{}, keyError("empty")
	}
	if max := base64.StdEncoding.EncodedLen(MaxClientKeyBytes); len(compact) > max {
		return RegistrationData{}, keyError("too large: %d characters, at most %d", len(compact), max)
	}
	raw, err := decodeBase64(compact)
	if err != nil {
		return RegistrationData{}, err
	}
	if !utf8.Valid(raw) {
		return RegistrationData{}, keyError("not JSON: the decoded bytes are not UTF-8 text")
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		var syn *json.SyntaxError
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
			return RegistrationData{}, keyError("not JSON: truncated (the JSON ends early)")
		case errors.As(err, &syn):
			return RegistrationData{}, keyError("not JSON: %s at byte %d", syn.Error(), syn.Offset)
		}
		return RegistrationData{}, keyError("not JSON: %v", err)
	}
	if dec.More() {
		return RegistrationData{}, keyError("not JSON: data after the JSON object")
	}
	if _, err := dec.Token(); err == nil {
		return RegistrationData{}, keyError("not JSON: data after the JSON object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return RegistrationData{}, keyError("not a JSON object but %s", jsonKind(v))
	}

	var errs []error
	str := func(name string) string {
		s, _ := obj[name].(string)
		return s
	}
	for _, f := range stringFields {
		if x, ok := obj[f]; ok && x != nil {
			if _, ok := x.(string); !ok {
				errs = append(errs, validate.Field(f, "must be a string, not %s", jsonKind(x)))
			}
		}
	}
	var seats int64
	for _, f := range countFields {
		x, ok := obj[f]
		if !ok || x == nil {
			continue
		}
		n, isNum := x.(json.Number)
		i, err := n.Int64()
		switch {
		case !isNum:
			errs = append(errs, validate.Field(f, "must be a number, not %s", jsonKind(x)))
		case err != nil || i < 0 || i > math.MaxInt32:
			errs = append(errs, validate.Field(f, "must be an integer between 0 and %d", math.MaxInt32))
		case f == "seats":
			seats = i
		}
	}
	for _, f := range boolFields {
		if x, ok := obj[f]; ok && x != nil {
			if _, ok := x.(bool); !ok {
				errs = append(errs, validate.Field(f, "must be a boolean, not %s", jsonKind(x)))
			}
		}
	}
	data := RegistrationData{
		UniqueID: str("uniqueId"), WorkspaceID: str("workspaceId"), Address: str("address"), SiteName: str("siteName"),
		ContactName: str("contactName"), ContactEmail: str("contactEmail"), AccountName: str("accountName"),
		Version: str("version"), Seats: seats, RawJSON: string(raw),
	}.Normalize()
	if err := data.Validate(false); err != nil {
		for _, fe := range validate.Fields(err) {
			if !mentioned(errs, fe.Field) {
				errs = append(errs, fe)
			}
		}
	}
	if len(errs) > 0 {
		return RegistrationData{}, errors.Join(append([]error{ErrInvalidClientKey}, errs...)...)
	}
	return data, nil
}

// mentioned says a type error already names field (a wrong-typed required
// field is not also "required").
func mentioned(errs []error, field string) bool {
	for _, e := range errs {
		var fe *validate.FieldError
		if errors.As(e, &fe) && fe.Field == field {
			return true
		}
	}
	return false
}

func decodeBase64(s string) ([]byte, error) {
	var first error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil {
			if len(b) > MaxClientKeyBytes {
				return nil, keyError("too large: %d bytes decoded, at most %d", len(b), MaxClientKeyBytes)
			}
			return b, nil
		}
		if first == nil {
			first = err
		}
	}
	var corrupt base64.CorruptInputError
	if errors.As(first, &corrupt) {
		if int(corrupt) >= len(s)-2 && len(s)%4 != 0 {
			return nil, keyError("not base64: truncated (%d characters is not a whole number of base64 groups)", len(s))
		}
		return nil, keyError("not base64: illegal character %q at offset %d", charAt(s, int(corrupt)), int(corrupt))
	}
	return nil, keyError("not base64: %v", first)
}

func charAt(s string, i int) string {
	if i < 0 || i >= len(s) {
		return "end of input"
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return string(r)
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
