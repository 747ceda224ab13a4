package upstream

import "context"

// RoomBus carries the broadcast built-in's messages between wsedge
// instances (the cluster, issue 12). The broadcast handler is its only
// caller; the cluster package implements it on NATS. A nil RoomBus keeps
// every room local to this instance.
//
// The handler publishes each message from a local member once, through
// the room's RoomLink, and delivers it to its local members itself; the
// bus delivers to this instance only what other instances published, so
// no member gets a message twice.
type RoomBus interface {
	// Join links this instance to room: deliver gets what other
	// instances publish to it until the link's Leave. The handler joins
	// when a room gets its first local member and leaves when its last
	// member goes. Join returns once the subscription is in place, or
	// when ctx ends or the bus is down (then the link is still returned
	// and the bus puts the subscription in place when it is back): a
	// member admitted after Join returns misses nothing published after
	// that. An error means the room cannot be linked at all, and stays
	// local. deliver is called from one goroutine per link, in the order
	// the messages were published; it may block, which holds back that
	// room's later messages only. After Leave no new call starts (one in
	// progress may still finish, so Leave may be called from deliver).
	Join(ctx context.Context, room string, deliver func(RoomMessage)) (RoomLink, error)
}

// RoomLink is one room's link to the other instances.
type RoomLink interface {
	// Publish sends a local member's message to the other instances'
	// members of the room. It never waits on the network: a message that
	// cannot be sent now is dropped and counted by the bus, never
	// buffered without bound. It does not keep msg.Data.
	Publish(msg RoomMessage)
	// Leave ends the link: no delivery starts after it returns.
	Leave()
}

// RoomMessage is one broadcast message as the bus carries it.
type RoomMessage struct {
	// Publisher identifies the member that sent it, unique within its
	// instance. The bus keeps each publisher's messages in order.
	Publisher uint64
	// Type is websocket.TextMessage or websocket.BinaryMessage.
	Type int
	// Data is the message. A delivered message's Data belongs to the
	// receiver.
	Data []byte
}
