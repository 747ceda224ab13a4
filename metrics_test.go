package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wsedge/wsedge/internal/wstest"
)

// scrape fetches /metrics from addr and parses it with Prometheus's own
// text parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse the scrape: %v", err)
	}
	return families
}

// value returns the value of the sample of family name whose labels are
// exactly want (name=value pairs), or -1 when there is none.
func value(families map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f := families[name]
	if f == nil {
		return -1
	}
	wanted := map[string]string{}
	for i := 0; i+1 < len(want); i += 2 {
		wanted[want[i]] = want[i+1]
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if fmt.Sprint(labels) != fmt.Sprint(wanted) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// samples lists a family's samples, for failure messages.
func samples(families map[string]*dto.MetricFamily, name string) string {
	f := families[name]
	if f == nil {
		return name + ": none"
	}
	var out []string
	for _, m := range f.GetMetric() {
		out = append(out, m.String())
	}
	sort.Strings(out)
	return name + ":\n  " + strings.Join(out, "\n  ")
}

// TestMetricsCountKnownTraffic: after known traffic, the scraped counts
// are exact: handshakes by outcome, connections open, messages and bytes
// each way, closes by who and code, reloads, backends, certificates.
func TestMetricsCountKnownTraffic(t *testing.T) {
	adminAddr := wstest.ClosedAddr(t)
	echo := wstest.EchoServer(t)
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	t.Cleanup(refusing.Close)
	refusingURL := "ws://" + refusing.Listener.Addr().String() + "/"
	dir := t.TempDir()
	text := fmt.Sprintf(`listen:
  http: "127.0.0.1:0"
  https: "127.0.0.1:0"
tls:
  self_signed: [localhost]
admin:
  listen: %q
routes:
  - name: main
    path: /ws
    backend: %s/
  - name: echo
    path: /echo
    handler: echo
  - name: refuse
    path: /refuse
    backend: %s
`, adminAddr, echo, refusingURL)
	ra := startApp(t, dir, text, listenLoopback(t))
	wstest.Eventually(t, waitLimit, func() bool {
		resp, err := http.Get("http://" + adminAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})

	const conns, perConn = 3, 5
	var open []*websocket.Conn
	clientBytes, backendBytes := 0, 0
	for i := range conns {
		c, _, err := ra.dialWS(t, "/ws")
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
		for j := range perConn {
			msg := fmt.Sprintf("conn %d message %d", i, j)
			roundTrip(t, c, msg)
			clientBytes += 2 + 4 + len(msg) // header, masking key, payload
			backendBytes += 2 + len(msg)
		}
	}
	echoConn, _, err := ra.dialWS(t, "/echo")
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, echoConn, "to the built-in")
	if _, resp, _ := ra.dialWS(t, "/nowhere"); resp == nil || resp.StatusCode != 404 {
		t.Errorf("/nowhere: %v, want 404", resp)
	}
	if _, resp, _ := ra.dialWS(t, "/refuse"); resp == nil || resp.StatusCode != 403 {
		t.Errorf("/refuse: %v, want the backend's 403", resp)
	}
	if resp, err := http.Get("http://" + ra.plainAddr + "/echo"); err != nil || resp.StatusCode != 426 {
		t.Errorf("plain GET /echo: %v %v, want 426", resp, err)
	} else {
		resp.Body.Close()
	}

	during := scrape(t, adminAddr)
	backendLabel := echo + "/"
	if got := value(during, "wsedge_connections_open", "backend", backendLabel, "route", "main"); got != conns {
		t.Errorf("connections open on main: %v, want %d\n%s", got, conns, samples(during, "wsedge_connections_open"))
	}
	if got := value(during, "wsedge_connections_open", "backend", "", "route", "echo"); got != 1 {
		t.Errorf("connections open on echo: %v, want 1\n%s", got, samples(during, "wsedge_connections_open"))
	}

	// Clients close: 1000 on main, 4000 on the built-in; each close frame
	// crosses (masked from the client, 2-byte code) and is answered.
	for _, c := range open {
		c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(waitLimit))
		clientBytes += 2 + 4 + 2
		backendBytes += 2 + 2
		c.SetReadDeadline(time.Now().Add(waitLimit))
		if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, 1000) {
			t.Errorf("close answer: %v", err)
		}
	}
	echoConn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "bye"), time.Now().Add(waitLimit))
	echoConn.SetReadDeadline(time.Now().Add(waitLimit))
	echoConn.ReadMessage()
	wstest.Eventually(t, waitLimit, func() bool { return ra.app.proxy.ActiveConnections() == 0 })

	// A failed reload and a good one.
	ra.rewrite(t, strings.Replace(text, "path: /echo", "path: /ws", 1))
	if ra.app.reload() == nil {
		t.Error("a conflicting reload succeeded")
	}
	ra.rewrite(t, text)
	if err := ra.app.reload(); err != nil {
		t.Errorf("reload: %v", err)
	}

	after := scrape(t, adminAddr)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"wsedge_handshakes_total", []string{"outcome", "101", "route", "main"}, conns},
		{"wsedge_handshakes_total", []string{"outcome", "101", "route", "echo"}, 1},
		{"wsedge_handshakes_total", []string{"outcome", "404", "route", ""}, 1},
		{"wsedge_handshakes_total", []string{"outcome", "backend_4xx", "route", "refuse"}, 1},
		{"wsedge_handshakes_total", []string{"outcome", "426", "route", "echo"}, 1},
		{"wsedge_handshake_duration_seconds", []string{"route", "main"}, conns},
		{"wsedge_messages_total", []string{"direction", "client_to_backend", "route", "main"}, conns * perConn},
		{"wsedge_messages_total", []string{"direction", "backend_to_client", "route", "main"}, conns * perConn},
		{"wsedge_bytes_total", []string{"direction", "client_to_backend", "route", "main"}, float64(clientBytes)},
		{"wsedge_bytes_total", []string{"direction", "backend_to_client", "route", "main"}, float64(backendBytes)},
		{"wsedge_messages_total", []string{"direction", "client_to_backend", "route", "echo"}, 1},
		{"wsedge_messages_total", []string{"direction", "backend_to_client", "route", "echo"}, 1},
		// The built-in's frames: the message (masked from the client) and
		// the client's close with code 4000 and "bye"; its echo and the
		// close answered with the code alone.
		{"wsedge_bytes_total", []string{"direction", "client_to_backend", "route", "echo"}, float64(2 + 4 + len("to the built-in") + 2 + 4 + 2 + len("bye"))},
		{"wsedge_bytes_total", []string{"direction", "backend_to_client", "route", "echo"}, float64(2 + len("to the built-in") + 2 + 2)},
		{"wsedge_closes_total", []string{"by", "client", "code", "1000", "route", "main"}, conns},
		{"wsedge_closes_total", []string{"by", "client", "code", "4000", "route", "echo"}, 1},
		{"wsedge_connections_open", []string{"backend", backendLabel, "route", "main"}, -1},
		{"wsedge_backend_up", []string{"backend", backendLabel, "route", "main"}, 1},
		{"wsedge_backend_failures_total", []string{"backend", backendLabel, "route", "main"}, 0},
		{"wsedge_config_reloads_total", []string{"result", "success"}, 2},
		{"wsedge_config_reloads_total", []string{"result", "failure"}, 1},
		{"wsedge_build_info", []string{"goversion", runtimeVersion(), "version", buildVersion()}, 1},
	} {
		if got := value(after, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v\n%s", c.name, c.labels, got, c.want, samples(after, c.name))
		}
	}
	notAfter := value(after, "wsedge_certificate_not_after_timestamp_seconds", "name", "localhost")
	if d := time.Until(time.Unix(int64(notAfter), 0)); d < 24*time.Hour {
		t.Errorf("certificate for localhost expires in %v, want the self-signed certificate's months\n%s", d, samples(after, "wsedge_certificate_not_after_timestamp_seconds"))
	}
	if value(after, "wsedge_config_last_reload_success_timestamp_seconds") < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Error("the last successful reload's time is not recent")
	}
}

func runtimeVersion() string { return runtime.Version() }
