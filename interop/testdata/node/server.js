#!/usr/bin/env node
// A Node `ws` server for wsedge's interoperability suite, on 127.0.0.1
// and a free port. argv[2] is a JSON object of options:
//
//   {"perMessageDeflate": true}   accept permessage-deflate when offered
//
// Paths:
//   /echo...     echoes every message with its type. Of the subprotocols
//                offered it picks the second (the first if only one). A
//                text message "!close CODE REASON" makes it close the
//                connection with that code and reason.
//   /forbidden   refuses the handshake: 403 with a short body.
//   other GETs   200 "node backend: PATH" (plain HTTP through the route).
//
// It prints one JSON object a line on stdout: ready (its port) once it
// listens, then for each connection open (id from ?id=, path, subprotocols
// offered and chosen, extensions) and close (the code and reason it
// received, and the bytes its TCP socket read and wrote).
'use strict';

const http = require('http');
const WebSocket = require('ws');

const opts = JSON.parse(process.argv[2] || '{}');

function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

const wss = new WebSocket.Server({
  noServer: true,
  perMessageDeflate: opts.perMessageDeflate === true,
  maxPayload: 64 * 1024 * 1024,
  handleProtocols: (protocols) => {
    const offered = [...protocols];
    if (offered.length === 0) return false;
    return offered.length > 1 ? offered[1] : offered[0];
  },
});

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end('node backend: ' + req.url);
});

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://backend');
  if (url.pathname === '/forbidden') {
    const body = 'forbidden by the node backend';
    socket.end(
      'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: ' +
        Buffer.byteLength(body) +
        '\r\nConnection: close\r\n\r\n' +
        body,
    );
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const id = url.searchParams.get('id') || '';
    const offered = (req.headers['sec-websocket-protocol'] || '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s);
    emit({
      event: 'open',
      id,
      path: url.pathname,
      offered,
      protocol: ws.protocol,
      extensions: ws.extensions,
      origin: req.headers.origin || '',
    });
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        const text = data.toString('utf8');
        const m = /^!close (\d+) ?(.*)$/s.exec(text);
        if (m) {
          ws.close(Number(m[1]), m[2]);
          return;
        }
      }
      ws.send(data, { binary: isBinary });
    });
    ws.on('close', (code, reason) => {
      emit({
        event: 'close',
        id,
        path: url.pathname,
        code,
        reason: reason.toString('utf8'),
        bytesRead: socket.bytesRead,
        bytesWritten: socket.bytesWritten,
      });
    });
    ws.on('error', (err) => emit({ event: 'error', id, message: String(err.message) }));
  });
});

server.listen(0, '127.0.0.1', () => {
  emit({ event: 'ready', port: server.address().port, version: require('ws/package.json').version, node: process.version });
});
