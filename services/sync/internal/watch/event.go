package watch

import (
	"sync"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cloudlicense/authority/pkg/grpcserver"
	syncv1 "github.com/cloudlicense/authority/proto/gen/licensing/sync/v1"
	"github.com/cloudlicense/authority/services/sync/internal/domain"
)

// Event is one message of the fan-out, shared read-only by every watcher it
// reaches: its attributes are read and its message encoded once, not once
// per watcher.
type Event struct {
	Type     syncv1.WatchEventType
	Revision int64
	// ChangeID is the feed row's id (CHANGED only), to drop a change a
	// watcher's list already holds.
	ChangeID int64
	Attrs    *Attributes // nil for bookmarks

	view *domain.View
	once sync.Once
	msg  *grpcserver.Encoded
	err  error
}

// NewViewEvent returns an event carrying a view: EXISTING in a list.
func NewViewEvent(t syncv1.WatchEventType, revision int64, v domain.View, attrs *Attributes) *Event {
	return &Event{Type: t, Revision: revision, Attrs: attrs, view: &v}
}

// NewMarkEvent returns an event without a view: LISTED or BOOKMARK.
func NewMarkEvent(t syncv1.WatchEventType, revision int64) *Event {
	return &Event{Type: t, Revision: revision}
}

// Message returns the encoded message to send (stream.SendMsg), the same
// bytes for every caller. The view is let go once encoded: the hub keeps
// recent events, and the license would otherwise be held twice.
func (e *Event) Message() (*grpcserver.Encoded, error) {
	e.once.Do(func() {
		m := &syncv1.WatchResponse{Type: e.Type, Revision: e.Revision}
		if e.view != nil {
			m.View = ViewPB(e.view)
		}
		if e.Attrs != nil {
			m.CustomerId = e.Attrs.CustomerID
			m.Labels = e.Attrs.Labels
		}
		e.msg, e.err = grpcserver.Encode(m)
		e.view = nil
	})
	return e.msg, e.err
}

// ViewPB is the protobuf of a view.
func ViewPB(v *domain.View) *syncv1.SyncView {
	pb := &syncv1.SyncView{
		WorkspaceId: v.WorkspaceID, Revision: v.Revision, LicenseSequence: v.LicenseSequence, License: v.License,
		RemoveLicense: v.RemoveLicense, Address: v.LicenseAddress, UpdatedAt: timestamppb.New(v.UpdatedAt),
	}
	if v.LastSyncedAt != nil {
		pb.LastSyncedAt = timestamppb.New(*v.LastSyncedAt)
	}
	return pb
}
