// Package upstream holds the gateway's clients of the internal services and
// caches what rarely changes (the license public key).
package upstream

import (
	"context"
	"sync"
	"time"

	"github.com/cloudlicense/authority/pkg/client"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
)

// Clients are the gateway's connections to the internal services.
type Clients struct {
	*client.Client

	mu        sync.Mutex
	publicKey string
	keyAt     time.Time
}

// Dial connects (lazily) to every service.
func Dial(cfg client.Config) (*Clients, error) {
	c, err := client.New(cfg)
	if err != nil {
		return nil, err
	}
	return &Clients{Client: c}, nil
}

// LicensePublicKeyPEM returns the license signing key's public half as PEM,
// asking the signer at most once a minute.
func (c *Clients) LicensePublicKeyPEM(ctx context.Context) (string, error) {
	c.mu.Lock()
	key, at := c.publicKey, c.keyAt
	c.mu.Unlock()
	if key != "" && time.Since(at) < time.Minute {
		return key, nil
	}
	resp, err := c.Signer.GetLicensePublicKey(ctx, &signerv1.GetLicensePublicKeyRequest{})
	if err != nil {
		if key != "" {
			return key, nil // a stale key beats failing a sync
		}
		return "", err
	}
	c.mu.Lock()
	c.publicKey, c.keyAt = resp.GetPublicKeyPem(), time.Now()
	c.mu.Unlock()
	return resp.GetPublicKeyPem(), nil
}
