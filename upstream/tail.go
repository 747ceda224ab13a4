package upstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/julienschmidt/httprouter"

	"github.com/wsedge/wsedge/internal/conftypes"
)

const (
	// tailPollInterval is how often a followed file is checked for new
	// lines, truncation and rotation: a stat and a read per connection.
	// Polling needs nothing from the platform and survives every way
	// logs are rotated.
	tailPollInterval = 250 * time.Millisecond
	// tailMaxLine is the longest line sent as one message; a longer one
	// is sent in pieces of this size.
	tailMaxLine = 64 << 10
	// tailHistoryMax bounds how far back from the end of the file the
	// first lines are looked for.
	tailHistoryMax = 8 << 20
	// tailReadChunk is the read buffer, and the step of the history scan.
	tailReadChunk = 32 << 10
)

// tail is the log server of the original design as a built-in: it sends
// the last lines of a file under root, then every line appended, and
// follows the file across rotation (rename and a new file, or
// truncation in place).
type tail struct {
	root         *os.Root
	lines        int
	writeTimeout time.Duration
	log          *slog.Logger
}

func newTail(cfg Config, env Env) (Handler, error) {
	root, err := openTailRoot(cfg.Root)
	if err != nil {
		return nil, conftypes.Field("root", err)
	}
	lines := DefaultTailLines
	if cfg.Lines != nil {
		lines = *cfg.Lines
	}
	return &tail{root: root, lines: lines, writeTimeout: env.WriteTimeout, log: env.Log}, nil
}

// openTailRoot opens the directory a tail route serves files from.
func openTailRoot(dir string) (*os.Root, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	return os.OpenRoot(dir)
}

// Close closes the root directory; files being followed stay open until
// their connections end.
func (t *tail) Close() error { return t.root.Close() }

// Open finds the file named by the route's last parameter (/logs/*file)
// under root. Anything but a regular file inside root, including a path
// with ".." and a symlink that leaves root, is ErrNotFound, so a client
// cannot tell a file outside root from one that does not exist.
func (t *tail) Open(_ *http.Request, params httprouter.Params) (Session, error) {
	if len(params) == 0 {
		return nil, ErrNotFound
	}
	name := strings.TrimPrefix(params[len(params)-1].Value, "/")
	if !filepath.IsLocal(name) {
		return nil, fmt.Errorf("tail %q: not a path under root: %w", name, ErrNotFound)
	}
	// os.Root refuses any name that resolves outside root, through ".."
	// or through a symlink.
	f, err := t.root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("tail: %w: %w", err, ErrNotFound)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("tail %q: not a regular file: %w", name, ErrNotFound)
	}
	return &tailSession{tail: t, name: name, f: f, buf: make([]byte, tailReadChunk)}, nil
}

// Abandon closes the file Open opened.
func (s *tailSession) Abandon() { s.f.Close() }

// tailSession follows one file for one client.
type tailSession struct {
	*tail
	name    string
	f       *os.File
	offset  int64  // how far f has been read
	partial []byte // the start of a line whose end has not been written yet
	buf     []byte
}

// Serve sends the history and then follows the file until the client
// leaves. A reader goroutine consumes the client's frames (so its pings and
// close are answered); Serve waits for it.
func (s *tailSession) Serve(conn *websocket.Conn) {
	defer func() { s.f.Close() }()
	gone := make(chan struct{})
	var reader sync.WaitGroup
	reader.Go(func() {
		defer close(gone)
		for {
			_, r, err := conn.NextReader()
			if err != nil {
				return
			}
			io.Copy(io.Discard, r) // the log server takes no input
		}
	})
	s.follow(conn, gone)
	conn.Close() // ends the reader if follow stopped first (a failed write)
	reader.Wait()
}

func (s *tailSession) follow(conn *websocket.Conn, gone <-chan struct{}) {
	if err := s.sendHistory(conn, gone); err != nil {
		return
	}
	tick := time.NewTicker(tailPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-gone:
			return
		case <-tick.C:
		}
		if err := s.poll(conn, gone); err != nil {
			return
		}
	}
}

// sendHistory sends the last lines of the file: it finds where they
// begin, reading backwards from the end a chunk at a time, then sends
// them as it sends appended lines, through the session's one read buffer
// (memory per handshake stays at that buffer, whatever lines asks for).
func (s *tailSession) sendHistory(conn *websocket.Conn, gone <-chan struct{}) error {
	fi, err := s.f.Stat()
	if err != nil {
		return err
	}
	from, err := s.historyStart(fi.Size())
	if err != nil {
		return err
	}
	if s.offset, err = s.f.Seek(from, io.SeekStart); err != nil {
		return err
	}
	return s.readNew(conn, gone)
}

// historyStart returns where the last s.lines complete lines of a file of
// size bytes begin: just after the line end before them, looked for at
// most tailHistoryMax back (from there, at the next line's start).
func (s *tailSession) historyStart(size int64) (int64, error) {
	if s.lines == 0 {
		return size, nil
	}
	start, seen := size, 0
	for start > 0 && size-start < tailHistoryMax {
		n := min(int64(len(s.buf)), start)
		start -= n
		if _, err := s.f.ReadAt(s.buf[:n], start); err != nil && err != io.EOF {
			return 0, err
		}
		for i := n - 1; i >= 0; i-- {
			// The line end before the first line sent is the
			// (lines+1)th from the end: the last one ends the last
			// complete line.
			if s.buf[i] == '\n' {
				if seen++; seen == s.lines+1 {
					return start + i + 1, nil
				}
			}
		}
	}
	if start == 0 {
		return 0, nil
	}
	return s.nextLineStart(start, size)
}

// nextLineStart returns the offset after the first line end at or after
// from, or size if there is none.
func (s *tailSession) nextLineStart(from, size int64) (int64, error) {
	for from < size {
		n, err := s.f.ReadAt(s.buf, from)
		if i := bytes.IndexByte(s.buf[:n], '\n'); i >= 0 {
			return from + int64(i) + 1, nil
		}
		from += int64(n)
		if err != nil {
			break
		}
	}
	return size, nil
}

// poll sends what was appended since the last poll, and notices rotation:
// truncation in place (copytruncate) starts over from the beginning; a new
// file under the name (rename and create) is switched to once everything
// written to the old one has been read.
func (s *tailSession) poll(conn *websocket.Conn, gone <-chan struct{}) error {
	fi, err := s.f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < s.offset {
		s.offset, s.partial = 0, s.partial[:0]
		if _, err := s.f.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	if err := s.readNew(conn, gone); err != nil {
		return err
	}
	cur, err := s.root.Stat(s.name)
	if err != nil || os.SameFile(cur, fi) || !cur.Mode().IsRegular() {
		return nil // same file, or no new one yet: keep following this one
	}
	next, err := s.root.Open(s.name)
	if err != nil {
		return nil
	}
	if len(s.partial) > 0 { // the old file's unfinished last line
		if err := s.send(conn, s.partial); err != nil {
			next.Close()
			return err
		}
	}
	s.f.Close()
	s.f, s.offset, s.partial = next, 0, s.partial[:0]
	return s.readNew(conn, gone)
}

// readNew reads to the end of the file and sends each completed line.
func (s *tailSession) readNew(conn *websocket.Conn, gone <-chan struct{}) error {
	for {
		select {
		case <-gone:
			return errors.New("client gone")
		default:
		}
		n, err := s.f.Read(s.buf)
		s.offset += int64(n)
		if err := s.emit(conn, s.buf[:n]); err != nil {
			return err
		}
		if n == 0 || err != nil {
			return nil // at the end for now (io.EOF), or try again next poll
		}
	}
}

// emit sends each line completed by data and keeps the unfinished rest.
func (s *tailSession) emit(conn *websocket.Conn, data []byte) error {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			s.partial = append(s.partial, data...)
			if len(s.partial) >= tailMaxLine {
				err := s.send(conn, s.partial)
				s.partial = s.partial[:0]
				return err
			}
			return nil
		}
		line := data[:i]
		if len(s.partial) > 0 {
			s.partial = append(s.partial, line...)
			line = s.partial
		}
		if err := s.send(conn, line); err != nil {
			return err
		}
		s.partial, data = s.partial[:0], data[i+1:]
	}
	return nil
}

// send writes one line as a text message, without its line ending. Bytes
// that are not UTF-8 become U+FFFD: a text message must be valid UTF-8
// (RFC 6455 section 8.1), and browsers close on one that is not.
func (s *tailSession) send(conn *websocket.Conn, line []byte) error {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if !utf8.Valid(line) {
		line = bytes.ToValidUTF8(line, []byte("\uFFFD"))
	}
	setWriteDeadline(conn, s.writeTimeout)
	return conn.WriteMessage(websocket.TextMessage, line)
}
