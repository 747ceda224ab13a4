package tlsconf

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"time"
)

// fileCert is a configured certificate pair and what was loaded from it.
type fileCert struct {
	files   CertFile
	cert    *tls.Certificate // the pair in use
	loaded  fileStamp        // the files as they were when cert was loaded
	refused fileStamp        // the files as they were when last refused
	seen    fileStamp        // the files as they were at the last check
}

// fileStamp identifies a version of a pair of files on disk.
type fileStamp struct {
	cert, key statStamp
}

type statStamp struct {
	modTime time.Time
	size    int64
	missing bool
}

func stampOf(cf CertFile) fileStamp {
	return fileStamp{cert: statOf(cf.Cert), key: statOf(cf.Key)}
}

func statOf(name string) statStamp {
	fi, err := os.Stat(name) // follows symlinks: a swapped link is a change
	if err != nil {
		return statStamp{missing: true}
	}
	return statStamp{modTime: fi.ModTime(), size: fi.Size()}
}

// Run checks the certificate files every watch interval and reloads the
// pairs that changed, until ctx is done. The caller owns it: it runs Run
// in a goroutine, cancels ctx and waits for Run to return.
func (m *Manager) Run(ctx context.Context) {
	if m.watchInterval <= 0 || len(m.files) == 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(m.watchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.reload(false)
		}
	}
}

// Reload loads every certificate file again, changed or not (SIGHUP).
func (m *Manager) Reload() { m.reload(true) }

// reload loads the pairs whose files changed (all of them when force) and
// swaps in a new certificate set. New handshakes use the new pairs; open
// connections are untouched. A pair that fails to load (unreadable, or a
// key that does not match) is refused, the old pair is kept, and the error
// is logged once per version of the files.
//
// Without force, a changed pair is loaded only once its files have stayed
// the same for a whole check interval: tools replace the certificate and
// the key one after the other, and the moment in between is not a pair.
func (m *Manager) reload(force bool) {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	changed := false
	for _, fc := range m.files {
		stamp := stampOf(fc.files)
		settled := stamp == fc.seen
		fc.seen = stamp
		if !force && (stamp == fc.loaded || stamp == fc.refused || !settled) {
			continue
		}
		cert, err := loadPair(fc.files)
		if err != nil {
			fc.refused = stamp
			file := fc.files.Cert
			var pe *pairError
			if errors.As(err, &pe) {
				file = pe.file
			}
			m.log.Error("certificate reload refused; keeping the previous certificate",
				"file", file, "err", err, "serving_serial", fc.cert.Leaf.SerialNumber.String())
			continue
		}
		fc.cert, fc.loaded, fc.refused = cert, stamp, fileStamp{}
		changed = true
		m.log.Info("certificate reloaded", "cert", fc.files.Cert, "serial", cert.Leaf.SerialNumber.String(),
			"names", cert.Leaf.DNSNames, "not_after", cert.Leaf.NotAfter.Format(time.RFC3339))
	}
	if changed {
		m.certs.Store(m.buildSet())
	}
}
