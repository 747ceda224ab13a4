#!/usr/bin/env node
// A remote-controlled Node `ws` client for wsedge's interoperability
// suite. It connects at once to the URL of the JSON plan in argv[2]:
//
//   {"url": "wss://127.0.0.1:8443/echo", "protocols": ["a", "b"],
//    "perMessageDeflate": false, "ca": "/path/cert.pem",
//    "origin": "https://127.0.0.1:8443", "replies": {"ping": "pong"}}
//
// then takes commands, one JSON object a line, on stdin:
//
//   {"cmd": "send", "kind": "text"|"binary", "size": N}  a generated payload (payload.js)
//   {"cmd": "send", "kind": "text", "data": "pong"}      this exact text
//   {"cmd": "close", "code": 4000, "reason": "bye"}
//
// and prints what happens, one JSON object a line, on stdout: open (the
// subprotocol and extensions the server chose), unexpected-response (a
// refused handshake: status and body), message (kind, size, SHA-256, and
// the text when short), sent, close (code, reason, and the bytes its TCP
// socket read and wrote), error. It exits after close. A text message
// that is a key of "replies" is answered with its value (the log tail's
// "ping" heartbeat wants "pong").
'use strict';

const crypto = require('crypto');
const net = require('net');
const readline = require('readline');
const tls = require('tls');
const fs = require('fs');
const WebSocket = require('ws');
const { textPayload, binaryPayload } = require('../browser/payload.js');

const plan = JSON.parse(process.argv[2]);

function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

// rawSocket is the TCP socket under the connection (under TLS for wss),
// so that bytesRead and bytesWritten count what crossed the wire.
let rawSocket = null;

function createConnection(options) {
  rawSocket = net.connect({ host: options.host, port: options.port });
  if (!plan.url.startsWith('wss:')) return rawSocket;
  options.path = undefined;
  options.servername = net.isIP(options.host) ? '' : options.host;
  return tls.connect({ ...options, socket: rawSocket });
}

const options = {
  perMessageDeflate: plan.perMessageDeflate === true,
  maxPayload: 64 * 1024 * 1024,
  handshakeTimeout: 20000,
  createConnection,
  headers: plan.headers || {},
};
if (plan.ca) options.ca = fs.readFileSync(plan.ca);
if (plan.origin) options.origin = plan.origin;

const ws = new WebSocket(plan.url, plan.protocols || [], options);
ws.binaryType = 'nodebuffer';

ws.on('open', () => {
  emit({ event: 'open', protocol: ws.protocol, extensions: ws.extensions });
});

ws.on('unexpected-response', (req, res) => {
  const chunks = [];
  res.on('data', (c) => chunks.push(c));
  res.on('end', () => {
    emit({ event: 'unexpected-response', status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') });
    process.exit(0);
  });
});

ws.on('message', (data, isBinary) => {
  const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data);
  const ev = {
    event: 'message',
    kind: isBinary ? 'binary' : 'text',
    size: buf.length,
    sha256: crypto.createHash('sha256').update(buf).digest('hex'),
  };
  if (!isBinary && buf.length <= 4096) ev.text = buf.toString('utf8');
  emit(ev);
  if (!isBinary && plan.replies && Object.prototype.hasOwnProperty.call(plan.replies, ev.text)) {
    ws.send(plan.replies[ev.text]);
  }
});

ws.on('close', (code, reason) => {
  emit({
    event: 'close',
    code,
    reason: reason.toString('utf8'),
    bytesRead: rawSocket ? rawSocket.bytesRead : 0,
    bytesWritten: rawSocket ? rawSocket.bytesWritten : 0,
  });
  process.exit(0);
});

ws.on('error', (err) => {
  emit({ event: 'error', message: String(err && err.message) });
});

let seq = 0;
const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  switch (cmd.cmd) {
    case 'send': {
      const n = ++seq;
      let data;
      if (cmd.data !== undefined) data = cmd.data;
      else if (cmd.kind === 'binary') data = Buffer.from(binaryPayload(cmd.size));
      else data = textPayload(cmd.size);
      ws.send(data, { binary: cmd.kind === 'binary' }, (err) => {
        if (err) emit({ event: 'error', message: 'send: ' + err.message });
        else emit({ event: 'sent', seq: n });
      });
      break;
    }
    case 'close':
      ws.close(cmd.code, cmd.reason);
      break;
    default:
      emit({ event: 'error', message: 'unknown command ' + cmd.cmd });
  }
});
