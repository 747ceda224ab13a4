package wsconform

// writePump is the only goroutine that writes to the connection. Control
// frames from the reader and the driver go first whenever they are ready,
// but never inside a step's writes, so a pong cannot split a frame. It is
// stopped by closing s.stop; every write is bounded by the case deadline.
func (s *session) writePump() {
	defer s.wg.Done()
	w := &wireWriter{s: s}
	for {
		select {
		case cf := <-s.ctrl:
			w.control(cf)
			continue
		default:
		}
		select {
		case cf := <-s.ctrl:
			w.control(cf)
		case req := <-s.data:
			req.done <- w.script(req.chunks)
		case <-s.stop:
			return
		}
	}
}

// wireWriter is writePump's state: the first write error, which every
// later write returns, and whether script data is still allowed.
type wireWriter struct {
	s         *session
	err       error
	dataEnded bool
}

func (w *wireWriter) control(cf ctrlFrame) {
	w.write(cf.wire)
	if cf.endsData {
		w.dataEnded = true
	}
}

func (w *wireWriter) script(chunks [][]byte) error {
	if w.dataEnded {
		return errStopped
	}
	for _, c := range chunks {
		if err := w.write(c); err != nil {
			return err
		}
	}
	return nil
}

// write makes one Write call: with TCP_NODELAY, one segment on the wire.
func (w *wireWriter) write(b []byte) error {
	if w.err != nil {
		return w.err
	}
	if _, err := w.s.conn.Write(b); err != nil {
		w.err = err
		w.s.mu.Lock()
		if w.s.obs.WriteError == "" && w.s.state != stateClosed {
			w.s.obs.WriteError = err.Error()
		}
		w.s.mu.Unlock()
	}
	return w.err
}
