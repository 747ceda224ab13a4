#!/usr/bin/python3
"""A tornado chat app for wsedge's interoperability suite, after
tornado's chat demo: one port serves the chat page (GET /) and its socket
(/chatsocket), so one wsedge route carries both. Run with Debian's
/usr/bin/python3 (python3-tornado).

The page opens its socket at "chatsocket" relative to its own URL, so it
works under any route prefix. A socket sends {"body": TEXT}; every open
socket then gets {"id": N, "body": TEXT}, and a new socket first gets the
last 20 messages. tornado's default check_origin stays on: the Origin's
host must equal the Host header, which wsedge passes through.

It prints one JSON object a line on stdout: ready (its port), then open
(with the Host and Origin seen), message and close events.
"""
import asyncio
import json

import tornado
import tornado.netutil
import tornado.web
import tornado.websocket
from tornado.httpserver import HTTPServer

import peer

PAGE = """<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>tornado chat</title></head>
<body>
<h1 id="title">tornado chat through wsedge</h1>
<ul id="messages"></ul>
<form id="form"><input id="body" autocomplete="off"><button id="send">send</button></form>
<p id="state">connecting</p>
<script>
  var url = new URL("chatsocket", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  var socket = new WebSocket(url);
  var state = document.getElementById("state");
  socket.onopen = function () { state.textContent = "open"; };
  socket.onclose = function (e) { state.textContent = "closed " + e.code; };
  socket.onmessage = function (e) {
    var m = JSON.parse(e.data);
    var li = document.createElement("li");
    li.dataset.id = m.id;
    li.textContent = m.body;
    document.getElementById("messages").appendChild(li);
  };
  document.getElementById("form").onsubmit = function (e) {
    e.preventDefault();
    var input = document.getElementById("body");
    socket.send(JSON.stringify({body: input.value}));
    input.value = "";
  };
</script>
</body>
</html>
"""


class MainHandler(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(PAGE)


class ChatSocketHandler(tornado.websocket.WebSocketHandler):
    waiters = set()
    cache = []
    next_id = 1

    def open(self):
        peer.emit(event="open", path=self.request.path, host=self.request.headers.get("Host", ""),
             origin=self.request.headers.get("Origin", ""))
        ChatSocketHandler.waiters.add(self)
        for m in ChatSocketHandler.cache:
            self.write_message(m)

    def on_close(self):
        ChatSocketHandler.waiters.discard(self)
        peer.emit(event="close", path=self.request.path, code=self.close_code or 0, reason=self.close_reason or "")

    def on_message(self, message):
        body = json.loads(message)["body"]
        m = json.dumps({"id": ChatSocketHandler.next_id, "body": body})
        ChatSocketHandler.next_id += 1
        ChatSocketHandler.cache = (ChatSocketHandler.cache + [m])[-20:]
        peer.emit(event="message", path=self.request.path, text=body)
        for w in list(ChatSocketHandler.waiters):
            try:
                w.write_message(m)
            except tornado.websocket.WebSocketClosedError:
                pass


async def main():
    app = tornado.web.Application([(r"/", MainHandler), (r"/chatsocket", ChatSocketHandler)])
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = HTTPServer(app)
    server.add_sockets(sockets)
    peer.emit(event="ready", port=sockets[0].getsockname()[1], version=tornado.version)
    await asyncio.Event().wait()


if __name__ == "__main__":
    peer.run(main)
