// window.interop: WebSockets opened by the page, for wsedge's
// interoperability suite, which calls these functions through the
// DevTools protocol. Every socket goes to the page's own host (wsedge),
// wss:// when the page came over https.
//
//   open(name, path, protocols, replies) -> {protocol, extensions}
//   sendPayload(name, kind, size)         payload.js's text or binary
//   sendText(name, text)
//   next(name) -> {kind, size, sha256, text}   the next message received
//   close(name, code, reason) -> {code, reason, wasClean}
//   closed(name) -> {code, reason, wasClean}   when it closes by itself
//
// A text message that is a key of replies is answered with its value
// (the log tail's "ping" heartbeat wants "pong").
(function () {
  'use strict';
  const TIMEOUT_MS = 25000;
  const sockets = {};

  function wsURL(path) {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path;
  }

  async function sha256hex(bytes) {
    const digest = await crypto.subtle.digest('SHA-256', bytes);
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
  }

  async function describe(data) {
    if (typeof data === 'string') {
      const bytes = new TextEncoder().encode(data);
      const m = { kind: 'text', size: bytes.length, sha256: await sha256hex(bytes) };
      if (bytes.length <= 4096) m.text = data;
      return m;
    }
    return { kind: 'binary', size: data.byteLength, sha256: await sha256hex(data) };
  }

  function withTimeout(promise, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(what + ': nothing within ' + TIMEOUT_MS + ' ms')), TIMEOUT_MS);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  function socket(name) {
    const s = sockets[name];
    if (!s) throw new Error('no socket ' + name);
    return s;
  }

  function open(name, path, protocols, replies) {
    return withTimeout(
      new Promise((resolve, reject) => {
        const ws = new WebSocket(wsURL(path), protocols || []);
        ws.binaryType = 'arraybuffer';
        const s = { ws, messages: [], wake: null, closeInfo: null, closeWaiters: [] };
        sockets[name] = s;
        ws.onopen = () => resolve({ protocol: ws.protocol, extensions: ws.extensions });
        ws.onmessage = (e) => {
          // describe is asynchronous (SHA-256): queue its promise at once,
          // so messages keep their order.
          s.messages.push(describe(e.data));
          if (s.wake) s.wake();
          if (replies && typeof e.data === 'string' && Object.prototype.hasOwnProperty.call(replies, e.data)) {
            ws.send(replies[e.data]);
          }
        };
        ws.onclose = (e) => {
          s.closeInfo = { code: e.code, reason: e.reason, wasClean: e.wasClean };
          s.closeWaiters.forEach((w) => w(s.closeInfo));
          if (s.wake) s.wake();
          reject(new Error('closed before it opened: ' + e.code + ' ' + e.reason));
        };
      }),
      'open ' + path,
    );
  }

  function sendPayload(name, kind, size) {
    const ws = socket(name).ws;
    ws.send(kind === 'binary' ? interopPayload.binaryPayload(size) : interopPayload.textPayload(size));
    return true;
  }

  function sendText(name, text) {
    socket(name).ws.send(text);
    return true;
  }

  async function next(name) {
    const s = socket(name);
    const arrived = new Promise((resolve, reject) => {
      const check = () => {
        if (s.messages.length > 0) {
          s.wake = null;
          resolve(s.messages.shift());
        } else if (s.closeInfo) {
          s.wake = null;
          reject(new Error('closed (' + s.closeInfo.code + ' ' + s.closeInfo.reason + ') with no further message'));
        } else {
          s.wake = check;
        }
      };
      check();
    });
    return withTimeout(arrived, 'next message on ' + name);
  }

  function closed(name) {
    const s = socket(name);
    if (s.closeInfo) return Promise.resolve(s.closeInfo);
    return withTimeout(new Promise((resolve) => s.closeWaiters.push(resolve)), 'close of ' + name);
  }

  function close(name, code, reason) {
    socket(name).ws.close(code, reason);
    return closed(name);
  }

  window.interop = { open, sendPayload, sendText, next, close, closed };
})();
