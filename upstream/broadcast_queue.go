package upstream

import (
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// queuedOverhead is what a queued message is counted for on top of its
// data: about what an empty one costs (its PreparedMessage and frame, its
// slot in the queue). Without it, empty messages would be free and a
// queue of them unbounded.
const queuedOverhead = 256

// keptQueueSlots is how many slots an empty queue keeps for the next
// messages; a queue that grew past it in a burst gives its slots back
// when it drains, so an idle member costs little whatever it once held.
const keptQueueSlots = 64

// queued is one message in a member's queue: the frame every member's
// queue shares, and what it counts for against the queue's limit.
type queued struct {
	prepared *websocket.PreparedMessage
	cost     int64
}

// prepareQueued frames a message once for every member.
func prepareQueued(messageType int, data []byte) (queued, error) {
	pm, err := websocket.NewPreparedMessage(messageType, data)
	if err != nil {
		return queued{}, err
	}
	return queued{prepared: pm, cost: int64(len(data)) + queuedOverhead}, nil
}

// offerResult is what sendQueue.offer did with a message.
type offerResult int

const (
	offerQueued offerResult = iota
	// offerFull: no room; wait for the channel offer returned.
	offerFull
	// offerGone: the member left or was evicted; it takes nothing more.
	offerGone
)

// sendQueue is a broadcast member's messages waiting for its writer,
// bounded in bytes: full at limit, but an empty queue takes any message
// (one may be broadcastMaxMessage). Publishers that find it full wait
// for its writer to take a message (see broadcast.enqueue); the writer
// never waits for a publisher.
type sendQueue struct {
	limit int64
	// ready holds a token when a message arrived in an empty queue, for
	// a writer that may be waiting.
	ready chan struct{}

	mu    sync.Mutex
	buf   []queued // the messages are buf[head:]
	head  int
	bytes int64
	// changed is closed when a message leaves the queue or the queue
	// ends; it exists only while a publisher waits for room.
	changed chan struct{}
	ended   bool
}

func newSendQueue(limit int64) *sendQueue {
	return &sendQueue{limit: limit, ready: make(chan struct{}, 1)}
}

// offer queues msg if there is room for it. When there is not, it
// returns a channel closed at the next change: wait on it and offer
// again.
func (q *sendQueue) offer(msg queued) (offerResult, <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.ended:
		return offerGone, nil
	case q.bytes > 0 && q.bytes+msg.cost > q.limit:
		if q.changed == nil {
			q.changed = make(chan struct{})
		}
		return offerFull, q.changed
	}
	wasEmpty := q.bytes == 0
	q.push(msg)
	if wasEmpty { // the writer may be waiting
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
	return offerQueued, nil
}

// push appends msg, moving the messages to the front of buf rather than
// growing it when the front has free slots.
func (q *sendQueue) push(msg queued) {
	if len(q.buf) == cap(q.buf) && q.head > 0 {
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:]) // drop the moved messages' old slots
		q.buf, q.head = q.buf[:n], 0
	}
	q.buf = append(q.buf, msg)
	q.bytes += msg.cost
}

// pop takes the oldest message for the writer; false if there is none
// or the queue ended. Taking one is the progress publishers wait for.
func (q *sendQueue) pop() (queued, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ended || q.head == len(q.buf) {
		return queued{}, false
	}
	msg := q.buf[q.head]
	q.buf[q.head] = queued{}
	q.head++
	q.bytes -= msg.cost
	if q.head == len(q.buf) {
		q.reset()
	}
	if q.changed != nil {
		close(q.changed)
		q.changed = nil
	}
	return msg, true
}

// reset empties buf, keeping a few slots.
func (q *sendQueue) reset() {
	if cap(q.buf) > keptQueueSlots {
		q.buf = nil
	}
	q.buf, q.head = q.buf[:0], 0
}

// endedQueue is what ending a queue leaves to do: the bytes it dropped,
// and the publishers waiting on it to wake (wake), once the caller has
// done what they must see done.
type endedQueue struct {
	dropped int64
	waiting chan struct{}
}

func (e endedQueue) wake() {
	if e.waiting != nil {
		close(e.waiting)
	}
}

// end stops the queue for good and drops its messages; false if it had
// ended already.
func (q *sendQueue) end() (endedQueue, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ended {
		return endedQueue{}, false
	}
	return q.endLocked(), true
}

// stalled ends the queue for an eviction if no message has left it since
// a publisher began waiting on waitedOn (the channel offer gave it); nil
// waitedOn ends it anyway. false: there was progress, or it had ended.
func (q *sendQueue) stalled(waitedOn <-chan struct{}) (endedQueue, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ended || waitedOn != nil && q.changed != waitedOn {
		return endedQueue{}, false
	}
	return q.endLocked(), true
}

func (q *sendQueue) endLocked() endedQueue {
	e := endedQueue{dropped: q.bytes, waiting: q.changed}
	q.ended, q.changed = true, nil
	q.buf, q.head, q.bytes = nil, 0, 0
	return e
}

// stallTimer times one goroutine's waits for room in full queues (a
// publisher's, or a room's deliveries from the bus), reused from wait
// to wait so that waiting allocates nothing.
type stallTimer struct{ t *time.Timer }

// expired waits for changed, or for limit: true if limit came first.
func (s *stallTimer) expired(changed <-chan struct{}, limit time.Duration) bool {
	if s.t == nil {
		s.t = time.NewTimer(limit)
	} else {
		s.t.Reset(limit)
	}
	select {
	case <-changed:
		s.t.Stop()
		return false
	case <-s.t.C:
		return true
	}
}
