package main

import "fmt"

// wsedgeConfig is wsedge in front of the backend on /ws, plain and TLS,
// with the defaults a user gets (keepalive on) and logging at warn, like
// nginx below with access_log off: neither logs per connection.
func wsedgeConfig(plainPort, tlsPort int, backendAddr, certFile, keyFile string) string {
	return fmt.Sprintf(`listen:
  http: "127.0.0.1:%d"
  https: "127.0.0.1:%d"
tls:
  certificates:
    - cert: %s
      key: %s
routes:
  - path: /ws
    backend: ws://%s/
`, plainPort, tlsPort, certFile, keyFile, backendAddr)
}

// nginxConfig is the usual WebSocket reverse proxy (nginx.org's "WebSocket
// proxying"), tuned as a user would for many connections: worker per
// core, enough worker_connections, TLS with the same certificate, session
// cache and tickets on, no access log.
func nginxConfig(plainPort, tlsPort int, backendAddr, certFile, keyFile, prefix string) string {
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
`, plainPort, tlsPort, backendAddr, certFile, keyFile, prefix)
}
