package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/wsedge/wsedge/admin"
)

// reloadTimeout bounds "wsedge reload": a reload reads files and builds
// routes, which takes milliseconds.
const reloadTimeout = 30 * time.Second

// requestReload asks the wsedge running with cfg to reload its
// configuration, through its admin listener, and prints the answer: the
// errors with their file and line when the reload is refused.
func requestReload(cfg admin.Config, out io.Writer) error {
	if !cfg.Enabled() {
		return errors.New("reload: the configuration has no admin listener (admin.listen); send SIGHUP instead")
	}
	client := &http.Client{Timeout: reloadTimeout}
	resp, err := client.Post("http://"+dialAddr(cfg.Listen)+"/reload", "text/plain", nil)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reload: read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reload refused (%s):\n%s", resp.Status, strings.TrimSpace(string(body)))
	}
	_, err = out.Write(body)
	return err
}

// dialAddr turns a listen address into one to connect to: a wildcard
// host (":9090", "0.0.0.0:9090", "[::]:9090") is reached on loopback.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
