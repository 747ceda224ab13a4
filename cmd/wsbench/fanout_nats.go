// The fanout's NATS server, a process of its own so that its CPU time is
// not the load generator's: Debian's nats-server if it is installed (or
// -install installs it), else the server of go.mod's
// github.com/nats-io/nats-server/v2 run by this program's hidden
// nats-server subcommand. Both answer /varz on a monitoring port, which
// says their version and counts their messages and slow consumers.

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// natsReadyTimeout bounds how long a starting NATS server may take to
// accept clients.
const natsReadyTimeout = 15 * time.Second

// natsServer is the NATS server of a fanout session.
type natsServer struct {
	proc    *process
	url     string // nats://127.0.0.1:port, for wsedge's cluster section
	monitor *debugClient
	kind    string // what was started, for the report
	version string // from /varz
}

// about says which server runs, for the report.
func (n *natsServer) about() string {
	return fmt.Sprintf("nats-server %s, %s", n.version, n.kind)
}

// startNATS starts a NATS server on free loopback ports: Debian's
// nats-server (mode system, or auto when it is on PATH; install runs
// apt-get install nats-server first if it is not), or the embedded one.
func startNATS(ctx context.Context, dir, mode string, install bool) (*natsServer, error) {
	bin, err := exec.LookPath("nats-server")
	if err != nil && install && mode != "embedded" {
		fmt.Fprintln(os.Stderr, "wsbench fanout: apt-get install -y nats-server")
		cmd := exec.Command("apt-get", "install", "-y", "nats-server")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("apt-get install nats-server: %w", err)
		}
		bin, err = exec.LookPath("nats-server")
	}
	if mode == "system" && err != nil {
		return nil, fmt.Errorf("-nats system: no nats-server on PATH (apt-get install nats-server, or -install): %w", err)
	}
	ports, perr := freePorts(2)
	if perr != nil {
		return nil, perr
	}
	n := &natsServer{url: fmt.Sprintf("nats://127.0.0.1:%d", ports[0]), monitor: newDebugClient(fmt.Sprintf("127.0.0.1:%d", ports[1]))}
	if mode != "embedded" && err == nil {
		n.kind = fmt.Sprintf("Debian's binary (%s), a process of its own", bin)
		n.proc, err = startProcess(dir, "nats-server", syscall.SIGTERM, bin,
			"-a", "127.0.0.1", "-p", fmt.Sprint(ports[0]), "-m", fmt.Sprint(ports[1]))
	} else {
		self, serr := os.Executable()
		if serr != nil {
			return nil, fmt.Errorf("nats-server: %w", serr)
		}
		n.kind = "github.com/nats-io/nats-server/v2 from go.mod, in a wsbench subprocess (no nats-server on PATH)"
		n.proc, err = startProcess(dir, "nats-server", syscall.SIGTERM, self,
			"nats-server", "-port", fmt.Sprint(ports[0]), "-http-port", fmt.Sprint(ports[1]))
	}
	if err != nil {
		return nil, err
	}
	var v natsVarz
	ready := waitFor(natsReadyTimeout, func() bool {
		v, err = n.varz(ctx)
		return err == nil
	})
	if !ready {
		n.proc.stop()
		return nil, fmt.Errorf("NATS server (%s) not ready within %v: %w", n.kind, natsReadyTimeout, err)
	}
	n.version = v.Version
	return n, nil
}

// natsVarz is what the fanout reads of the server's /varz.
type natsVarz struct {
	Version       string `json:"version"`
	InMsgs        int64  `json:"in_msgs"`
	OutMsgs       int64  `json:"out_msgs"`
	SlowConsumers int64  `json:"slow_consumers"`
}

// varz reads /varz.
func (n *natsServer) varz(ctx context.Context) (natsVarz, error) {
	var v natsVarz
	body, err := n.monitor.get(ctx, "/varz")
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		return v, fmt.Errorf("NATS /varz: %w", err)
	}
	return v, nil
}

// sub is what the server counted between before and v.
func (v natsVarz) sub(before natsVarz) natsVarz {
	return natsVarz{Version: v.Version, InMsgs: v.InMsgs - before.InMsgs, OutMsgs: v.OutMsgs - before.OutMsgs,
		SlowConsumers: v.SlowConsumers - before.SlowConsumers}
}

// runNATSServer is the hidden nats-server subcommand: a NATS server on
// loopback until SIGTERM or SIGINT.
func runNATSServer(args []string) int {
	fs := flag.NewFlagSet("wsbench nats-server", flag.ExitOnError)
	port := fs.Int("port", 4222, "client port on 127.0.0.1")
	httpPort := fs.Int("http-port", 8222, "monitoring port on 127.0.0.1 (/varz)")
	fs.Parse(args)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: *port, HTTPHost: "127.0.0.1", HTTPPort: *httpPort, NoSigs: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench nats-server:", err)
		return 1
	}
	s.ConfigureLogger()
	s.Start()
	if !s.ReadyForConnections(natsReadyTimeout) {
		s.Shutdown()
		fmt.Fprintf(os.Stderr, "wsbench nats-server: not ready within %v\n", natsReadyTimeout)
		return 1
	}
	<-stop
	s.Shutdown()
	s.WaitForShutdown()
	return 0
}
