// The fanout's clients: the room's members, each a connection with a
// reader that counts and times what it gets, and the publisher.

package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// A fanout message is binary (a text one would be checked as UTF-8 on
// its way): a header, then zeros up to the message's size.
//
//	sequence (8 bytes) | sent (8) | flags (1) | padding
//
// The sequence counts the publisher's messages from 0 over a run; sent
// is when it was written, in nanoseconds since the run's epoch, a
// monotonic time.Time this process shares with the members.
const (
	fanoutHeaderLen = 17
	// fanoutMaxSize is the broadcast built-in's bound on a message.
	fanoutMaxSize = 1 << 20
	// flagTimed asks members to record the message's latency: it was
	// sent in a latency phase's measured window.
	flagTimed = 1
)

// fanoutMessage is what a message's header says.
type fanoutMessage struct {
	seq   uint64
	sent  time.Duration // since the epoch
	timed bool
}

// encode writes m's header into buf, which is the whole message.
func (m fanoutMessage) encode(buf []byte) {
	binary.BigEndian.PutUint64(buf[0:8], m.seq)
	binary.BigEndian.PutUint64(buf[8:16], uint64(m.sent))
	buf[16] = 0
	if m.timed {
		buf[16] = flagTimed
	}
}

// decodeFanoutMessage reads a header; ok is false for a message too
// short to hold one.
func decodeFanoutMessage(b []byte) (m fanoutMessage, ok bool) {
	if len(b) < fanoutHeaderLen {
		return m, false
	}
	return fanoutMessage{
		seq:   binary.BigEndian.Uint64(b[0:8]),
		sent:  time.Duration(binary.BigEndian.Uint64(b[8:16])),
		timed: b[16]&flagTimed != 0,
	}, true
}

// fanoutDialer connects the members.
var fanoutDialer = &websocket.Dialer{HandshakeTimeout: 10 * time.Second}

// publisherSendBuffer is the publisher's socket send buffer. Left to
// autotuning it grows to megabytes on loopback: tens of thousands of
// small messages written but not yet read by wsedge, which the room
// takes minutes to deliver, and a write that waits that long (the kernel
// wakes a blocked writer only once a third of the buffer is free). Held
// small, what the publisher has written is what wsedge has taken, within
// a few hundred messages, and the publisher's rate is the room's.
const publisherSendBuffer = 32 << 10

// publisherDialer connects the publisher, with its send buffer fixed.
var publisherDialer = &websocket.Dialer{
	HandshakeTimeout: 10 * time.Second,
	NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if err := c.(*net.TCPConn).SetWriteBuffer(publisherSendBuffer); err != nil {
			c.Close()
			return nil, fmt.Errorf("publisher send buffer: %w", err)
		}
		return c, nil
	},
}

// fanoutMember is one member of the room. Its counters may be read at
// any time; the samples through takeSamples.
type fanoutMember struct {
	edge  int // index of the instance it is connected to
	conn  *websocket.Conn
	epoch time.Time

	received  atomic.Int64 // messages with a header
	gaps      atomic.Int64 // sequence numbers skipped: never to come
	reordered atomic.Int64 // a number at or below one already seen
	malformed atomic.Int64 // messages too short for a header
	next      uint64       // the sequence number expected; readPump's

	mu      sync.Mutex
	samples []time.Duration // latencies of timed messages

	done chan struct{} // closed when readPump has ended
	err  error         // why readPump ended; read after done
}

// readPump reads until the connection ends, counting each message and
// recording the latency of the timed ones.
func (m *fanoutMember) readPump() {
	defer close(m.done)
	var header [fanoutHeaderLen]byte
	for {
		_, r, err := m.conn.NextReader()
		if err != nil {
			m.err = err
			return
		}
		n, err := io.ReadFull(r, header[:])
		if err == nil {
			_, err = io.Copy(io.Discard, r)
		}
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			m.err = err
			return
		}
		msg, ok := decodeFanoutMessage(header[:n])
		if !ok {
			m.malformed.Add(1)
			continue
		}
		if msg.timed {
			latency := time.Since(m.epoch) - msg.sent
			m.mu.Lock()
			m.samples = append(m.samples, latency)
			m.mu.Unlock()
		}
		m.check(msg.seq)
		// Counted last: whoever sees the count sees the sample.
		m.received.Add(1)
	}
}

// check counts a sequence number against the one expected.
func (m *fanoutMember) check(seq uint64) {
	switch {
	case seq == m.next:
		m.next++
	case seq > m.next:
		m.gaps.Add(int64(seq - m.next))
		m.next = seq + 1
	default:
		m.reordered.Add(1)
	}
}

// takeSamples returns the latencies recorded so far and forgets them.
func (m *fanoutMember) takeSamples() []time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.samples
	m.samples = nil
	return s
}

// connectMembers connects len(edges) members, member i to the instance
// edges[i] names, fanoutDialers at a time, and starts their readers.
// On an error, the members connected so far are closed.
func connectMembers(ctx context.Context, urls []string, edges []int, epoch time.Time) ([]*fanoutMember, error) {
	members := make([]*fanoutMember, len(edges))
	errs := make(chan error, len(edges))
	slots := make(chan struct{}, fanoutDialers)
	var wg sync.WaitGroup
	for i, e := range edges {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			conn, resp, err := fanoutDialer.DialContext(ctx, urls[e], nil)
			if err != nil {
				if resp != nil {
					err = fmt.Errorf("%w (%s)", err, resp.Status)
				}
				errs <- fmt.Errorf("member %d on instance %d: %w", i+1, e+1, err)
				return
			}
			m := &fanoutMember{edge: e, conn: conn, epoch: epoch, done: make(chan struct{})}
			go m.readPump()
			members[i] = m
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		closeMembers(members)
		return nil, err
	}
	return members, nil
}

// closeMembers closes the members' connections and waits for their
// readers.
func closeMembers(members []*fanoutMember) {
	for _, m := range members {
		if m != nil {
			m.conn.Close()
		}
	}
	for _, m := range members {
		if m != nil {
			<-m.done
		}
	}
}

// fanoutPublisher is the room's one publisher. One goroutine at a time
// sends (send, flood, pace); its counters may be read at any time.
type fanoutPublisher struct {
	conn  *websocket.Conn
	epoch time.Time
	seq   uint64 // the next message's; the sender's

	sent      atomic.Int64
	writeWait atomic.Int64 // nanoseconds spent in writes done: wsedge not reading
	writing   atomic.Int64 // when the write in progress began, since the epoch; 0: none
	// timed marks the messages sent from now on as timed.
	timed atomic.Bool

	done chan struct{} // closed when the reader has ended
}

// connectPublisher connects the publisher to url. Its reader only
// answers wsedge's pings: with echo_self off nothing else comes.
func connectPublisher(ctx context.Context, url string, epoch time.Time) (*fanoutPublisher, error) {
	conn, resp, err := publisherDialer.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("%w (%s)", err, resp.Status)
		}
		return nil, fmt.Errorf("publisher: %w", err)
	}
	p := &fanoutPublisher{conn: conn, epoch: epoch, done: make(chan struct{})}
	go p.readPump()
	return p, nil
}

func (p *fanoutPublisher) readPump() {
	defer close(p.done)
	for {
		if _, _, err := p.conn.NextReader(); err != nil {
			return
		}
	}
}

// close closes the connection and waits for the reader.
func (p *fanoutPublisher) close() {
	p.conn.Close()
	<-p.done
}

// publishTimeout bounds one write: the members' queues drain in far
// less unless something is stuck.
const publishTimeout = 30 * time.Second

// send writes one message of len(buf) bytes, stamped as it is written.
func (p *fanoutPublisher) send(buf []byte) error {
	fanoutMessage{seq: p.seq, sent: time.Since(p.epoch), timed: p.timed.Load()}.encode(buf)
	start := time.Now()
	p.writing.Store(int64(start.Sub(p.epoch)))
	p.conn.SetWriteDeadline(start.Add(publishTimeout))
	err := p.conn.WriteMessage(websocket.BinaryMessage, buf)
	p.writeWait.Add(int64(time.Since(start)))
	p.writing.Store(0)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	p.seq++
	p.sent.Add(1)
	return nil
}

// waited is the time spent in writes so far, the one in progress
// included, so that a window's share of it never exceeds the window.
// Read in this order, a write that ends meanwhile is missed rather than
// counted twice.
func (p *fanoutPublisher) waited() time.Duration {
	done := time.Duration(p.writeWait.Load())
	if began := p.writing.Load(); began > 0 {
		done += time.Since(p.epoch) - time.Duration(began)
	}
	return done
}

// flood sends size-byte messages back to back until ctx ends: as fast
// as wsedge reads them, which it stops doing while members' queues are
// full.
func (p *fanoutPublisher) flood(ctx context.Context, size int) error {
	buf := make([]byte, size)
	for ctx.Err() == nil {
		if err := p.send(buf); err != nil {
			return err
		}
	}
	return nil
}

// pace sends size-byte messages at rate a second until ctx ends. A send
// that falls behind its schedule by more than an interval moves the
// schedule rather than catching up in a burst.
func (p *fanoutPublisher) pace(ctx context.Context, size int, rate float64) error {
	buf := make([]byte, size)
	interval := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	for pause(ctx, time.Until(next)) == nil {
		if err := p.send(buf); err != nil {
			return err
		}
		if next = next.Add(interval); time.Until(next) < -interval {
			next = time.Now()
		}
	}
	return nil
}
