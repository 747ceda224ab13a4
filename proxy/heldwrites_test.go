package proxy

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/wsedge/wsedge/internal/wstest"
)

// writeCounter counts the writes that reach a socket.
type writeCounter struct {
	net.Conn
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	return w.Conn.Write(p)
}

// TestHeldWritesGather: writes between Hold and Flush reach the socket
// as one write, in order; past heldWriteLimit what is gathered goes
// first; a frame bigger than the limit is written on its own; without
// Hold every write goes through at once.
func TestHeldWritesGather(t *testing.T) {
	ln := wstest.Listen(t)
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	counter := &writeCounter{Conn: server}
	c := &activityConn{Conn: counter}
	var want bytes.Buffer
	write := func(p []byte) {
		t.Helper()
		if n, err := c.Write(p); n != len(p) || err != nil {
			t.Fatalf("write: %d, %v", n, err)
		}
		want.Write(p)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(client)
		got <- b
	}()

	c.Hold()
	for i := range 100 {
		write(bytes.Repeat([]byte{byte(i)}, 100))
	}
	if counter.writes != 0 {
		t.Errorf("held: %d writes before Flush, want 0", counter.writes)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if counter.writes != 1 {
		t.Errorf("100 held frames: %d writes, want 1", counter.writes)
	}

	c.Hold()
	write(make([]byte, heldWriteLimit-10))
	write([]byte("does not fit"))         // flushes the first
	write(make([]byte, 2*heldWriteLimit)) // flushes the second, then goes alone
	if counter.writes != 4 {              // the first round, then one for each frame
		t.Errorf("overflowing the held buffer: %d writes so far, want 4", counter.writes)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	write([]byte("not held"))
	if counter.writes != 5 {
		t.Errorf("after Flush: %d writes, want 5 (nothing was left to flush, and a write goes at once)", counter.writes)
	}
	server.Close()
	select {
	case b := <-got:
		if !bytes.Equal(b, want.Bytes()) {
			t.Errorf("the peer got %d bytes, not the %d written in order", len(b), want.Len())
		}
	case <-time.After(waitLimit):
		t.Error("the peer's read did not end")
	}
}
