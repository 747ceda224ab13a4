package main

import (
	"fmt"
	"runtime"
	"time"
)

// wsedgeListeners is the part of a wsedge configuration every benchmark
// shares: a plain and a TLS listener on loopback, with cert. HTTP/2 is
// named although on by default: workload 5 opens WebSockets over it. A
// client offering only http/1.1 in ALPN (wsload but with -h2-conns)
// still gets HTTP/1.1, so the other wss:// workloads are unchanged.
func wsedgeListeners(plainPort, tlsPort int, cert certFiles) string {
	return fmt.Sprintf(`listen:
  http: "127.0.0.1:%d"
  https: "127.0.0.1:%d"
  http2: true
tls:
  certificates:
    - cert: %s
      key: %s
`, plainPort, tlsPort, cert.cert, cert.key)
}

// wsedgeConfig is wsedge in front of the backend on /ws, plain and TLS,
// with the defaults a user gets (keepalive on).
func wsedgeConfig(plainPort, tlsPort int, backendAddr string, cert certFiles) string {
	return wsedgeListeners(plainPort, tlsPort, cert) + fmt.Sprintf(`routes:
  - path: /ws
    backend: ws://%s/
`, backendAddr)
}

// keepaliveConfig is a keepalive section to append to wsedgeConfig.
func keepaliveConfig(pingInterval, pongTimeout time.Duration) string {
	return fmt.Sprintf("keepalive:\n  ping_interval: %v\n  pong_timeout: %v\n", pingInterval, pongTimeout)
}

// profilesConfig is an admin section to append to wsedgeConfig: runtime
// profiles on addr, for the figures runtimestats reads.
func profilesConfig(addr string) string {
	return fmt.Sprintf("admin:\n  listen: %q\n  pprof: true\n", addr)
}

// nginxConfig is the usual WebSocket reverse proxy (nginx.org's "WebSocket
// proxying"), tuned as a user would for many connections: worker per
// core, enough worker_connections, TLS with the same certificate, session
// cache and tickets on, no access log.
func nginxConfig(plainPort, tlsPort int, backendAddr string, cert certFiles, prefix string) string {
	return fmt.Sprintf(`worker_processes auto;
worker_rlimit_nofile 40000;
pid %[6]s/nginx.pid;
error_log %[6]s/logs/error.log warn;
events {
    worker_connections 20000;
}
http {
    access_log off;
    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      close;
    }
    upstream backend {
        server %[3]s;
    }
    server {
        listen 127.0.0.1:%[1]d;
        listen 127.0.0.1:%[2]d ssl;
        ssl_certificate %[4]s;
        ssl_certificate_key %[5]s;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        ssl_session_tickets on;
        location /ws {
            proxy_pass http://backend/;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }
    }
}
`, plainPort, tlsPort, backendAddr, cert.cert, cert.key, prefix)
}

// haproxyConfig is the usual production configuration for WebSocket in
// HTTP mode: HAProxy recognises the upgrade itself and switches the
// connection to a tunnel, where "timeout tunnel" replaces the client and
// server timeouts. One thread per core, the same certificate (HAProxy
// wants it and its key in one file), TLS 1.2 minimum, HAProxy's default
// session cache and tickets, no logging (no log directive). maxconn is
// set globally and in defaults, since a frontend's own default is lower.
// The TLS bind offers h2 as well: HAProxy (2.4 and later) then accepts
// WebSockets over HTTP/2 (RFC 8441) and speaks HTTP/1.1 to the backend,
// as workload 5 measures; clients offering only http/1.1 get HTTP/1.1.
func haproxyConfig(plainPort, tlsPort int, backendAddr string, cert certFiles, maxConn int) string {
	return fmt.Sprintf(`global
    nbthread %[1]d
    maxconn %[2]d
    ssl-default-bind-options ssl-min-ver TLSv1.2

defaults
    mode http
    maxconn %[2]d
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout tunnel 1h
    timeout client-fin 30s

frontend ws
    bind 127.0.0.1:%[3]d
    bind 127.0.0.1:%[4]d ssl crt %[5]s alpn h2,http/1.1
    default_backend echo

backend echo
    server echo1 %[6]s
`, runtime.NumCPU(), maxConn, plainPort, tlsPort, cert.combined, backendAddr)
}
