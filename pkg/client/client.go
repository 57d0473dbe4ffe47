// Package client is the Go SDK for internal callers and operators: one value
// holding typed clients of every internal API, authenticated with an API key.
package client

import (
	"errors"

	"google.golang.org/grpc"

	"github.com/cloudlicense/authority/pkg/grpcserver"
	keysv1 "github.com/cloudlicense/authority/proto/gen/licensing/keys/v1"
	logv1 "github.com/cloudlicense/authority/proto/gen/licensing/log/v1"
	registryv1 "github.com/cloudlicense/authority/proto/gen/licensing/registry/v1"
	signerv1 "github.com/cloudlicense/authority/proto/gen/licensing/signer/v1"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	tokensv1 "github.com/cloudlicense/authority/proto/gen/licensing/tokens/v1"
)

// Config names the services and the key to present.
type Config struct {
	RegistryAddr string
	TokensAddr   string
	SignerAddr   string
	SyncAddr     string
	APIKey       string
}

// Defaults are the addresses of a local `make dev`.
var Defaults = Config{
	RegistryAddr: "127.0.0.1:7101",
	TokensAddr:   "127.0.0.1:7102",
	SignerAddr:   "127.0.0.1:7103",
	SyncAddr:     "127.0.0.1:7104",
}

// Client holds the typed clients.
type Client struct {
	Registry registryv1.RegistryServiceClient
	Tokens   tokensv1.TokenServiceClient
	Signer   signerv1.SignerServiceClient
	// Subscriptions is served by the signer process.
	Subscriptions signerv1.SubscriptionServiceClient
	// Log (the issuance log) is served by the signer process.
	Log logv1.LogServiceClient
	// Versions (the version policy) is served by the signer process.
	Versions signerv1.VersionPolicyServiceClient
	// Keys (the license signing keyset) is served by the signer process.
	Keys keysv1.KeyServiceClient
	// AccessTokenKeys (the access-token keyset) is served by the token
	// service process.
	AccessTokenKeys keysv1.KeyServiceClient
	Sync            syncv1.SyncServiceClient
	// Announcements is served by the sync process.
	Announcements syncv1.AnnouncementServiceClient
	conns         []*grpc.ClientConn
}

// New connects (lazily: nothing is dialled until the first call).
func New(cfg Config) (*Client, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("client: an API key is required")
	}
	c := &Client{}
	for _, addr := range []string{cfg.RegistryAddr, cfg.TokensAddr, cfg.SignerAddr, cfg.SyncAddr} {
		conn, err := grpcserver.Dial(addr, cfg.APIKey)
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		c.conns = append(c.conns, conn)
	}
	c.Registry = registryv1.NewRegistryServiceClient(c.conns[0])
	c.Tokens = tokensv1.NewTokenServiceClient(c.conns[1])
	c.Signer = signerv1.NewSignerServiceClient(c.conns[2])
	c.Subscriptions = signerv1.NewSubscriptionServiceClient(c.conns[2])
	c.Log = logv1.NewLogServiceClient(c.conns[2])
	c.Versions = signerv1.NewVersionPolicyServiceClient(c.conns[2])
	c.Keys = keysv1.NewKeyServiceClient(c.conns[2])
	c.AccessTokenKeys = keysv1.NewKeyServiceClient(c.conns[1])
	c.Sync = syncv1.NewSyncServiceClient(c.conns[3])
	c.Announcements = syncv1.NewAnnouncementServiceClient(c.conns[3])
	return c, nil
}

// Close closes the connections.
func (c *Client) Close() error {
	var errs []error
	for _, conn := range c.conns {
		errs = append(errs, conn.Close())
	}
	return errors.Join(errs...)
}
