package admin

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// liveInterval is how often the admin page gets a new status.
const liveInterval = time.Second

// liveWriteTimeout drops a page that stops reading.
const liveWriteTimeout = 5 * time.Second

// update is what the page receives each liveInterval, as JSON.
type update struct {
	Time   time.Time `json:"time"`
	Status any       `json:"status"`
}

// live serves the admin page's WebSocket: a status every liveInterval
// until the page goes away or the server stops. Each connection's
// goroutines are the server's: Serve stops and waits for them.
type live struct {
	ctl      Controller
	upgrader websocket.Upgrader // gorilla's default same-origin check: the page's own
	ctx      context.Context
	conns    sync.WaitGroup
}

func (l *live) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := l.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // gorilla has answered
	}
	l.conns.Add(1)
	go l.serve(c)
}

func (l *live) serve(c *websocket.Conn) {
	defer l.conns.Done()
	// The page sends nothing: reading only notices that it went away
	// (and answers its pings and close).
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			if _, _, err := c.NextReader(); err != nil {
				return
			}
		}
	}()
	defer func() { c.Close(); <-gone }() // the reader ends with the connection
	tick := time.NewTicker(liveInterval)
	defer tick.Stop()
	for {
		c.SetWriteDeadline(time.Now().Add(liveWriteTimeout))
		if err := c.WriteJSON(update{Time: time.Now(), Status: l.ctl.Status()}); err != nil {
			return
		}
		select {
		case <-l.ctx.Done():
			c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "wsedge stopping"), time.Now().Add(time.Second))
			return
		case <-gone:
			return
		case <-tick.C:
		}
	}
}
