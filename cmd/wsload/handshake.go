// Handshake mode: how fast can the target accept new connections?
//
// -c workers, started at the ramp rate, each open a connection, time the
// opening handshake (dial start to upgrade done: TCP, TLS when wss, and
// the HTTP upgrade), close it properly and start over, until -duration
// has passed. With -h2-conns the workers open their WebSockets as HTTP/2
// streams on that many shared TLS connections instead (h2dial.go): the
// handshake is then the extended CONNECT and its 200.

package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// errorPause is how long a worker waits after a failed handshake, so that
// a target that refuses connections does not turn the workers into busy
// loops that only measure how fast the kernel says no.
const errorPause = 10 * time.Millisecond

// handshakeWorker is one handshake-mode worker; the fields are written by
// the worker and read by progress lines.
type handshakeWorker struct {
	handshake handshakeFunc // set before the worker starts

	latency histogram
	done    atomic.Uint64 // handshakes completed
}

// handshakeFunc opens one WebSocket, within ctx, and returns the function
// that closes it with a closing handshake.
type handshakeFunc func(ctx context.Context) (closeConn func(), err error)

// http1Handshake opens a WebSocket on a TCP (and TLS) connection of its
// own, with an HTTP/1.1 upgrade.
func http1Handshake(env *runEnv) handshakeFunc {
	return func(ctx context.Context) (func(), error) {
		ws, err := dial(ctx, env.dialer, env.opts.url)
		if err != nil {
			return nil, err
		}
		return func() { closeAfterHandshake(ws) }, nil
	}
}

// runHandshake runs handshake mode and summarises it.
func runHandshake(ctx context.Context, env *runEnv) (summary, error) {
	var h2 *h2Dialer
	if env.opts.h2Conns > 0 {
		var err error
		if h2, err = newH2Dialer(env.opts); err != nil {
			return summary{}, err
		}
		defer h2.close() // after the workers, which close their streams
	}
	// All workers exist from the start, so progress lines can read them
	// without a lock while they are being started.
	workers := make([]*handshakeWorker, env.opts.connections)
	for i := range workers {
		workers[i] = &handshakeWorker{handshake: http1Handshake(env)}
		if h2 != nil {
			workers[i].handshake = h2.handshaker(i)
		}
	}
	stopProgress := startProgress(env, func() progressSample {
		return handshakeProgress(workers, env)
	})
	defer stopProgress()

	// The phase is cancelled rather than given a deadline: a dial cut
	// short by a deadline can fail ("i/o timeout") before the context
	// reports its end, and would be miscounted as an error.
	phase, endPhase := context.WithCancel(ctx)
	defer endPhase()
	begin := time.Now()
	env.marks.start()
	var wg sync.WaitGroup
	startWorkers(phase, begin.Add(env.opts.duration), env, workers, &wg)
	sleepCtx(phase, time.Until(begin.Add(env.opts.duration)))
	measured := time.Since(begin)
	env.marks.end()
	endPhase()
	wg.Wait()

	latency, count := mergeWorkers(workers)
	s := summary{Handshakes: count, LatencyUS: latencyOf(latency)}
	if h2 != nil {
		s.H2Conns = h2.opened.Load()
	}
	s.setMeasured(measured)
	if secs := measured.Seconds(); secs > 0 {
		s.HandshakesPerSec = float64(count) / secs
	}
	return s, nil
}

// startWorkers starts the workers at the ramp rate, each in a goroutine
// counted in wg, and returns when all have started or the phase is over.
func startWorkers(phase context.Context, phaseEnd time.Time, env *runEnv, workers []*handshakeWorker, wg *sync.WaitGroup) {
	rampCtx, stopRamp := context.WithDeadline(phase, phaseEnd)
	defer stopRamp()
	ramp(rampCtx, len(workers), env.opts.ramp, func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			workers[i].loop(phase, env)
		}()
	})
}

func handshakeProgress(workers []*handshakeWorker, env *runEnv) progressSample {
	latency, count := mergeWorkers(workers)
	return progressSample{handshakes: count, errors: env.errs.total(), latency: latency}
}

// mergeWorkers adds up the workers' latencies and handshake counts.
func mergeWorkers(workers []*handshakeWorker) (*histogram, uint64) {
	var h histogram
	var n uint64
	for _, w := range workers {
		h.merge(&w.latency)
		n += w.done.Load()
	}
	return &h, n
}

// loop opens and closes connections until ctx ends. A handshake cut short
// by the end of the run is neither counted nor an error.
func (w *handshakeWorker) loop(ctx context.Context, env *runEnv) {
	for ctx.Err() == nil {
		begin := time.Now()
		closeConn, err := w.handshake(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			env.recordDialError(err)
			if !sleepCtx(ctx, errorPause) {
				return
			}
			continue
		}
		w.latency.record(time.Since(begin))
		w.done.Add(1)
		closeConn()
	}
}

// closeAfterHandshake closes a fresh connection as a well-behaved client
// does: close frame 1000, then up to closeWait for the server's close
// frame and for the server to end the TCP connection. Letting the server
// close TCP first leaves the TIME_WAIT state on the server's side; were it
// on wsload's side, a long run would exhaust the local ports.
func closeAfterHandshake(ws *websocket.Conn) {
	defer ws.Close()
	deadline := time.Now().Add(closeWait)
	if err := ws.WriteControl(websocket.CloseMessage, normalClosure, deadline); err != nil {
		return
	}
	_ = ws.SetReadDeadline(deadline)
	err := discardMessages(ws)
	var closeFrame *websocket.CloseError
	if !errors.As(err, &closeFrame) {
		return // deadline or broken connection: nothing more to wait for
	}
	// gorilla stops reading at the close frame; wait for the end of the
	// stream on the underlying connection.
	var scratch [64]byte
	for {
		if _, err := ws.UnderlyingConn().Read(scratch[:]); err != nil {
			return
		}
	}
}
