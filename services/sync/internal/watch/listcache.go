package watch

import (
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
)

// listCache keeps the encoded EXISTING events of recent lists. Operators'
// watchers start in crowds (a fleet rolling out, a replica's streams
// resuming elsewhere), and each list would otherwise read the same license
// again and encode the same message again: garbage per watcher that the
// process pays for in resident memory long after.
type listCache = boundedCache[listKey, *Event]

// listKey is everything a list event's message says. The license body is
// left out: it moves only with the sequence (the views_record_update
// trigger relies on the same rule).
type listKey struct {
	workspaceID, address    string
	viewRevision, sequence  int64
	snapRevision            int64
	remove                  bool
	updatedAt, lastSyncedAt int64 // unix nanoseconds; 0 for never synced
}

// listCacheSize bounds the cache (each event holds its license, a few KiB);
// when full it starts over, which costs only reading and encoding again.
const listCacheSize = 512

func listKeyOf(snapRevision int64, v *domain.View) listKey {
	k := listKey{workspaceID: v.WorkspaceID, address: v.LicenseAddress, viewRevision: v.Revision,
		sequence: v.LicenseSequence, snapRevision: snapRevision, remove: v.RemoveLicense, updatedAt: v.UpdatedAt.UnixNano()}
	if v.LastSyncedAt != nil {
		k.lastSyncedAt = v.LastSyncedAt.UnixNano()
	}
	return k
}

// CachedListEvent returns the EXISTING event of v (read without its
// license) in a list at snapRevision, if the hub holds it.
func (h *Hub) CachedListEvent(snapRevision int64, v *domain.View) *Event {
	ev, _ := h.lists.get(listKeyOf(snapRevision, v))
	return ev
}

// ListEvent returns the EXISTING event of v, which holds its license, in a
// list at snapRevision, encoded, and keeps it for the lists that follow.
func (h *Hub) ListEvent(snapRevision int64, v domain.View, attrs *Attributes) *Event {
	k := listKeyOf(snapRevision, &v)
	ev := NewViewEvent(syncv1.WatchEventType_WATCH_EVENT_TYPE_EXISTING, snapRevision, v, attrs)
	if _, err := ev.Message(); err != nil {
		return ev // not kept: the stream's send reports the error
	}
	h.lists.put(k, ev, listCacheSize)
	return ev
}
