package upstream

import (
	"context"
	"fmt"
	"sync/atomic"
)

// room is the members of one room of a broadcast route. Its member list
// is copy-on-write: publishing, the hot path, loads it without a lock;
// joins and leaves replace it under broadcast.mu.
type room struct {
	key     string
	members atomic.Pointer[[]*member]
	// ready is closed once the room is linked to the bus (or could not
	// be): a member is admitted only then, so it misses nothing another
	// instance publishes after its 101.
	ready chan struct{}
	// link is the room's link to the other instances, set before ready
	// is closed and read only after; nil without a bus, or if Join
	// failed.
	link RoomLink
	// deliveries times the waits of the link's deliveries for room in
	// full queues: the bus delivers on one goroutine per link.
	deliveries stallTimer

	// slots counts the members and the reservations of handshakes not
	// yet upgraded, under broadcast.mu; the room is in broadcast.rooms
	// while it is not zero.
	slots int
}

// reserve takes a place in the room named key for a handshake, making
// the room if it is new (created: the caller subscribes it, see
// subscribe), within max_rooms and max_members.
func (b *broadcast) reserve(key string) (rm *room, created bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rm = b.rooms[key]
	switch {
	case rm == nil && len(b.rooms) >= b.maxRooms:
		return nil, false, &RoomLimitError{Limit: LimitBroadcastRooms, Room: key, Max: b.maxRooms}
	case rm == nil:
		rm = &room{key: key, ready: make(chan struct{})}
		rm.members.Store(&[]*member{})
		b.rooms[key] = rm
		created = true
	case rm.slots >= b.maxMembers:
		return nil, false, &RoomLimitError{Limit: LimitBroadcastMembers, Room: key, Max: b.maxMembers}
	}
	rm.slots++
	return rm, created, nil
}

// release gives back a place reserve took. The last one removes the room
// and unlinks it from the bus: the room that joined is the one that
// leaves, so a room made anew under the same key right after has a link
// of its own, and this one's deliveries stop.
func (b *broadcast) release(rm *room) {
	b.mu.Lock()
	rm.slots--
	last := rm.slots == 0
	if last {
		delete(b.rooms, rm.key)
	}
	b.mu.Unlock()
	if last && rm.link != nil {
		rm.link.Leave()
	}
}

// subscribe links a new room to the bus, before its first member's
// upgrade. That member's place keeps the room alive meanwhile, so the
// room cannot be removed while Join is in progress and the link always
// has a room to end it. A room that cannot be linked stays local.
func (b *broadcast) subscribe(ctx context.Context, rm *room) {
	defer close(rm.ready)
	if b.bus == nil {
		return
	}
	link, err := b.bus.Join(ctx, rm.key, func(msg RoomMessage) { b.deliver(rm, msg) })
	if err != nil {
		b.log.Warn("broadcast room not linked to the cluster, serving it locally", "room", rm.key, "err", err)
		return
	}
	rm.link = link
}

// awaitLink waits until the room is linked (see subscribe), or gives back
// the place reserved for a client whose request ended meanwhile.
func (b *broadcast) awaitLink(ctx context.Context, rm *room) error {
	select {
	case <-rm.ready:
		return nil
	case <-ctx.Done():
		b.release(rm)
		return fmt.Errorf("broadcast room %q: %w", rm.key, context.Cause(ctx))
	}
}

// admit adds m, whose place is reserved, to the room's members.
func (b *broadcast) admit(rm *room, m *member) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := *rm.members.Load()
	next := append(old[:len(old):len(old)], m)
	rm.members.Store(&next)
}

// remove takes m out of the room's members, if it is there; its place
// stays reserved until release.
func (b *broadcast) remove(rm *room, m *member) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := *rm.members.Load()
	next := make([]*member, 0, len(old))
	for _, x := range old {
		if x != m {
			next = append(next, x)
		}
	}
	if len(next) < len(old) {
		rm.members.Store(&next)
	}
}
