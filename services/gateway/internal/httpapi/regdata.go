package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// registrationData is what a workspace says about itself (PROTOCOL.md
// section 1). Unknown fields are ignored; the raw body is kept for the usage
// history.
type registrationData struct {
	UniqueID          string `json:"uniqueId"`
	WorkspaceID       string `json:"workspaceId"`
	Address           string `json:"address"`
	SiteName          string `json:"siteName"`
	ContactName       string `json:"contactName"`
	ContactEmail      string `json:"contactEmail"`
	Seats             *int64 `json:"seats"`
	MAC               *int64 `json:"MAC"`
	Version           string `json:"version"`
	ConnectionDisable bool   `json:"connectionDisable"`
}

// decodeJSON reads a JSON object body into v, naming what is wrong: not
// JSON, a field of the wrong type, or a body over the size limit.
func decodeJSON(r *http.Request, v any) ([]byte, *protocolError) {
	body, perr := readBody(r)
	if perr != nil {
		return nil, perr
	}
	if perr := decodeJSONBody(body, v); perr != nil {
		return nil, perr
	}
	return body, nil
}

// readBody reads the whole body, or says it is over the size limit.
func readBody(r *http.Request) ([]byte, *protocolError) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			e := protocolError{http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("body larger than %d bytes", tooBig.Limit)}
			return nil, &e
		}
		e := badRequest("invalid_request", "cannot read the body")
		return nil, &e
	}
	return body, nil
}

// decodeJSONBody decodes a body already read, as decodeJSON does.
func decodeJSONBody(body []byte, v any) *protocolError {
	// json.Unmarshal accepts a bare null into a struct as "nothing to set";
	// the protocol wants an object, so null is refused like any other shape.
	if bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		e := badRequest("invalid_request", "the body is not a JSON object")
		return &e
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		var e protocolError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field != "":
			e = badRequest("invalid_request", fmt.Sprintf("%s: must be a %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String())))
		case len(strings.TrimSpace(string(body))) == 0:
			e = badRequest("invalid_request", "the body is empty; a JSON object is required")
		default:
			e = badRequest("invalid_request", "the body is not a JSON object")
		}
		return &e
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "struct", "map", "ptr":
		return "object or number"
	}
	return "number"
}
