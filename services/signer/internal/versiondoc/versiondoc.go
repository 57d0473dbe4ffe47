// Package versiondoc keeps the signed supported-versions document that the
// signer embeds in every license it issues (PROTOCOL.md 7: "the same signed
// document is embedded in each license as supportedVersions"). Signing it
// for every license would double the RS256 work of issuance, so one signed
// copy is kept until a release or the policy changes (the change event,
// heard by every replica) or MaxAge passes.
package versiondoc

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cloudlicense/authority/pkg/events"
	"github.com/cloudlicense/authority/pkg/keys"
	tlog "github.com/cloudlicense/authority/pkg/translog"
	"github.com/cloudlicense/authority/services/signer/internal/domain"
	"github.com/cloudlicense/authority/services/signer/internal/store"
)

// MaxAge bounds how long a copy is used when a change event was missed.
const MaxAge = time.Minute

// Cache is the signed document of one signer process.
type Cache struct {
	keys keys.Manager
	now  func() time.Time

	mu  sync.Mutex
	doc json.RawMessage
	at  time.Time
	kid string
}

// New returns an empty cache signing with km's active key; now is its clock.
func New(km keys.Manager, now func() time.Time) *Cache {
	return &Cache{keys: km, now: now}
}

// Document returns the signed document, building and signing it in tx when
// the copy is missing, stale or signed by a key no longer active. It reads
// through tx so that an issuance waiting here never needs a second
// connection.
func (c *Cache) Document(ctx context.Context, tx *store.Tx) (json.RawMessage, error) {
	key, err := c.keys.Active(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.doc != nil && c.kid == key.ID && now.Sub(c.at) < MaxAge && !now.Before(c.at) {
		return c.doc, nil
	}
	releases, err := tx.Releases(ctx)
	if err != nil {
		return nil, err
	}
	policy, err := tx.VersionPolicy(ctx)
	if err != nil {
		return nil, err
	}
	doc, signed, err := domain.SignSupportedVersions(domain.NewSupportedVersions(releases, policy, now), now, key)
	if err != nil {
		return nil, err
	}
	// Nothing signed leaves the signer unlogged. Should this transaction
	// roll back, the copy kept here was still signed but not logged on its
	// own; the licenses that carry it are logged, and it with them.
	if err := tx.LogArtifact(ctx, tlog.Leaf{Kind: tlog.KindSupportedVersions, ArtifactSHA256: tlog.ArtifactHash(signed)}); err != nil {
		return nil, err
	}
	c.doc, c.at, c.kid = doc, now, key.ID
	return doc, nil
}

// Invalidate drops the copy: the next license signs a new one.
func (c *Cache) Invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.doc = nil
}

// Run invalidates the copy on every change event until ctx ends.
func (c *Cache) Run(ctx context.Context, nc *nats.Conn) error {
	sub, err := nc.Subscribe(events.SubjectSupportedVersionsChanged, func(*nats.Msg) { c.Invalidate() })
	if err != nil {
		return err
	}
	<-ctx.Done()
	_ = sub.Unsubscribe()
	return nil
}
