package watch

import (
	"github.com/cloudlicense/authority/services/sync/internal/domain"
)

// attrCache keeps the attributes of recent licenses. Every watcher that
// starts lists the views it selects, often the same ones, and decoding each
// license again would leave each of them the garbage of a JSON decode. A
// view's attributes depend only on its license (named by workspace and
// sequence) and its removeLicense.
type attrCache struct {
	c boundedCache[attrKey, *Attributes]
}

type attrKey struct {
	workspaceID string
	sequence    int64
	remove      bool
}

// attrCacheSize bounds the cache; when full it starts over, which costs only
// decoding again.
const attrCacheSize = 8192

func (c *attrCache) get(v *domain.View) *Attributes {
	k := attrKey{v.WorkspaceID, v.LicenseSequence, v.RemoveLicense}
	if a, ok := c.c.get(k); ok {
		return a
	}
	a := attributesOf(v)
	c.c.put(k, a, attrCacheSize)
	return a
}
