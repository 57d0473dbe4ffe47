package domain

// Change is one committed change of a view, as the watch feed carries it:
// the view's state right after the change, numbered with the feed's
// revision. ID is the feed row's own id, which orders changes before they
// are numbered.
type Change struct {
	ID       int64
	Revision int64
	View     View
}

// Snapshot is the list a watch starts from: the views a filter selects as
// they stood at one instant, the highest revision numbered by then, and the
// changes committed by then but not yet numbered (their effect is already in
// Views, so the stream must not send them again as if they were new).
type Snapshot struct {
	Revision int64
	Pending  map[int64]bool
	Views    []View
}
