package e2e

import (
	"net/http"
	"os"
)

// traceparent adds a W3C trace context to every request, as an instrumented
// caller in front of the gateway would.
type traceparent struct{ value string }

func (tp traceparent) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("traceparent", tp.value)
	return http.DefaultTransport.RoundTrip(r)
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
