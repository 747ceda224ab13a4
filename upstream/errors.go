package upstream

import (
	"errors"
	"fmt"
)

// Sentinel errors a caller classifies to choose an HTTP status. The proxy
// maps them in one place (proxy.statusFor).
var (
	// ErrBadParam: a route parameter would change the backend URL's
	// structure (a "." or ".." segment). The request is refused before any
	// backend is contacted.
	ErrBadParam = errors.New("route parameter not allowed in backend path")
	// ErrNotFound: a built-in handler has nothing at this path.
	ErrNotFound = errors.New("not found")
	// ErrDialsBusy: the backend had limits.max_backend_dials dials in
	// progress for as long as the handshake could wait. The proxy answers
	// 503 with Retry-After.
	ErrDialsBusy = errors.New("backend has too many dials in progress")
)

// Names of the broadcast limits, as RoomLimitError.Limit gives them.
const (
	LimitBroadcastRooms   = "broadcast_rooms"
	LimitBroadcastMembers = "broadcast_members"
)

// RoomLimitError refuses a broadcast member before the upgrade: its route
// has broadcast.max_rooms rooms and this would open another, or its room
// has broadcast.max_members members. The proxy answers 503 with
// Retry-After.
type RoomLimitError struct {
	// Limit is LimitBroadcastRooms or LimitBroadcastMembers.
	Limit string
	// Room is the room asked for (see roomKey).
	Room string
	// Max is the bound that was reached.
	Max int
}

func (e *RoomLimitError) Error() string {
	if e.Limit == LimitBroadcastRooms {
		return fmt.Sprintf("broadcast room %q not opened: the route has %d rooms (max_rooms)", e.Room, e.Max)
	}
	return fmt.Sprintf("broadcast room %q is full: %d members (max_members)", e.Room, e.Max)
}
