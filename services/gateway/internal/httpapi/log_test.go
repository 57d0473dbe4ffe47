package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// Malformed log queries are refused naming the parameter, before any
// upstream call (the log's answers are checked end to end in tests/e2e).
func TestLogQueryRefusals(t *testing.T) {
	t.Parallel()
	e := start(t, envOptions{})
	for path, param := range map[string]string{
		"/v1/log/tree-head?treeSize=-1":                           "treeSize",
		"/v1/log/tree-head?treeSize=abc":                          "treeSize",
		"/v1/log/inclusion":                                       "leafHash or workspaceId",
		"/v1/log/inclusion?leafHash=zz":                           "leafHash",
		"/v1/log/inclusion?leafHash=abcd":                         "leafHash",
		"/v1/log/inclusion?workspaceId=w&sequence=x":              "sequence",
		"/v1/log/inclusion?workspaceId=w&leafHash=00":             "leafHash",
		"/v1/log/inclusion?workspaceId=w&sequence=1&treeSize=1.5": "treeSize",
		"/v1/log/consistency":                                     "first",
		"/v1/log/consistency?first=1&second=-2":                   "second",
		"/v1/log/entries?start=x":                                 "start",
		"/v1/log/entries?start=0&end=1e3":                         "end",
	} {
		desc := errorBody(t, e.do(t, newRequest(t, http.MethodGet, path, "", "", nil)), http.StatusBadRequest, "invalid_request")
		if !strings.HasPrefix(desc, param) {
			t.Errorf("%s: %q does not name %s", path, desc, param)
		}
	}
	errorBody(t, e.do(t, newRequest(t, http.MethodPost, "/v1/log/tree-head", "", "", nil)), http.StatusNotFound, "not_found")
}
