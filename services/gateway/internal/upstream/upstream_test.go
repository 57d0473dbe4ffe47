package upstream

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cloudlicense/authority/pkg/client"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
)

type fakeSigner struct {
	signerv1.SignerServiceClient
	mu    sync.Mutex
	pem   string
	err   error
	calls int
}

func (f *fakeSigner) GetLicensePublicKey(context.Context, *signerv1.GetLicensePublicKeyRequest, ...grpc.CallOption) (*signerv1.GetLicensePublicKeyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	return &signerv1.GetLicensePublicKeyResponse{PublicKeyPem: f.pem}, nil
}

func TestLicensePublicKeyPEM(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := &fakeSigner{err: status.Error(codes.Unavailable, "signer down")}
	c := &Clients{Client: &client.Client{Signer: f}}

	// Nothing cached yet: the outage is reported.
	if _, err := c.LicensePublicKeyPEM(ctx); status.Code(err) != codes.Unavailable {
		t.Fatalf("first call during an outage = %v, want Unavailable", err)
	}

	f.mu.Lock()
	f.err, f.pem = nil, "PEM-1"
	f.mu.Unlock()
	for range 3 {
		if got, err := c.LicensePublicKeyPEM(ctx); err != nil || got != "PEM-1" {
			t.Fatalf("LicensePublicKeyPEM = %q, %v", got, err)
		}
	}
	if f.calls != 2 {
		t.Fatalf("signer asked %d times, want 2 (the failed call and one fetch)", f.calls)
	}

	// After a minute the key is fetched again; a failure then serves the
	// stale key rather than failing a sync.
	c.mu.Lock()
	c.keyAt = c.keyAt.Add(-2 * time.Minute)
	c.mu.Unlock()
	f.mu.Lock()
	f.err = errors.New("signer down again")
	f.mu.Unlock()
	if got, err := c.LicensePublicKeyPEM(ctx); err != nil || got != "PEM-1" {
		t.Fatalf("stale key during an outage = %q, %v; want PEM-1", got, err)
	}
	f.mu.Lock()
	f.err, f.pem = nil, "PEM-2"
	f.mu.Unlock()
	if got, err := c.LicensePublicKeyPEM(ctx); err != nil || got != "PEM-2" {
		t.Fatalf("after the outage = %q, %v; want the rotated key PEM-2", got, err)
	}
}
