// Command healthcheck is the container health probe baked into every image:
// the images are distroless (no shell, no curl), so Compose healthchecks run
// this instead. Kubernetes does not need it; it uses its native gRPC and HTTP
// probes.
//
//	healthcheck http://127.0.0.1:8080/healthz     any 2xx answer is healthy
//	healthcheck grpc 127.0.0.1:7101 [service]     grpc.health.v1 Check says SERVING
//
// It exits 0 when healthy, 1 when not, 2 on a usage error. It uses the
// standard library only: the gRPC call is one unary request over cleartext
// HTTP/2, framed by hand.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

const timeout = 4 * time.Second

func main() {
	args := os.Args[1:]
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var err error
	switch {
	case len(args) == 1 && (strings.HasPrefix(args[0], "http://") || strings.HasPrefix(args[0], "https://")):
		err = checkHTTP(ctx, args[0])
	case (len(args) == 2 || len(args) == 3) && args[0] == "grpc":
		service := ""
		if len(args) == 3 {
			service = args[2]
		}
		err = checkGRPC(ctx, args[1], service)
	default:
		fmt.Fprintln(os.Stderr, "usage: healthcheck http://HOST:PORT/PATH | healthcheck grpc HOST:PORT [SERVICE]")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "unhealthy:", err)
		os.Exit(1)
	}
}

func checkHTTP(ctx context.Context, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: %s", target, resp.Status)
	}
	return nil
}

// checkGRPC calls grpc.health.v1.Health/Check on addr over cleartext HTTP/2.
func checkGRPC(ctx context.Context, addr, service string) error {
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: protocols}}
	defer client.CloseIdleConnections()

	u := url.URL{Scheme: "http", Host: addr, Path: "/grpc.health.v1.Health/Check"}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(frame(healthCheckRequest(service))))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check: HTTP %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("health check: read: %w", err)
	}
	// A failed call may answer with headers only ("trailers-only").
	grpcStatus := resp.Trailer.Get("Grpc-Status")
	grpcMessage := resp.Trailer.Get("Grpc-Message")
	if grpcStatus == "" {
		grpcStatus, grpcMessage = resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message")
	}
	if grpcStatus != "0" {
		return fmt.Errorf("health check: grpc-status %q %s", grpcStatus, grpcMessage)
	}
	msg, err := unframe(body)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	status, err := servingStatus(msg)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	if status != 1 { // SERVING
		return fmt.Errorf("health check: status %s", statusName(status))
	}
	return nil
}

// healthCheckRequest encodes grpc.health.v1.HealthCheckRequest{service}.
func healthCheckRequest(service string) []byte {
	if service == "" {
		return nil
	}
	b := []byte{0x0a} // field 1, wire type 2 (length-delimited)
	b = binary.AppendUvarint(b, uint64(len(service)))
	return append(b, service...)
}

// frame wraps a message in the gRPC length-prefixed framing (uncompressed).
func frame(msg []byte) []byte {
	out := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(out[1:], uint32(len(msg)))
	return append(out, msg...)
}

// unframe returns the first message of a gRPC response body.
func unframe(body []byte) ([]byte, error) {
	if len(body) < 5 {
		return nil, errors.New("short response")
	}
	if body[0] != 0 {
		return nil, errors.New("compressed response not supported")
	}
	n := binary.BigEndian.Uint32(body[1:5])
	if uint64(len(body)-5) < uint64(n) {
		return nil, errors.New("truncated response")
	}
	return body[5 : 5+n], nil
}

// servingStatus decodes field 1 (status, an enum) of
// grpc.health.v1.HealthCheckResponse, skipping unknown fields. An absent
// field is its zero value, UNKNOWN.
func servingStatus(msg []byte) (uint64, error) {
	var status uint64
	for len(msg) > 0 {
		key, n := binary.Uvarint(msg)
		if n <= 0 {
			return 0, errors.New("malformed response")
		}
		msg = msg[n:]
		field, wire := key>>3, key&7
		switch wire {
		case 0: // varint
			v, n := binary.Uvarint(msg)
			if n <= 0 {
				return 0, errors.New("malformed response")
			}
			msg = msg[n:]
			if field == 1 {
				status = v
			}
		case 1: // 64-bit
			if len(msg) < 8 {
				return 0, errors.New("malformed response")
			}
			msg = msg[8:]
		case 2: // length-delimited
			l, n := binary.Uvarint(msg)
			if n <= 0 || uint64(len(msg)-n) < l {
				return 0, errors.New("malformed response")
			}
			msg = msg[n+int(l):]
		case 5: // 32-bit
			if len(msg) < 4 {
				return 0, errors.New("malformed response")
			}
			msg = msg[4:]
		default:
			return 0, fmt.Errorf("unsupported wire type %d", wire)
		}
	}
	return status, nil
}

func statusName(s uint64) string {
	switch s {
	case 0:
		return "UNKNOWN"
	case 1:
		return "SERVING"
	case 2:
		return "NOT_SERVING"
	case 3:
		return "SERVICE_UNKNOWN"
	}
	return fmt.Sprint(s)
}
