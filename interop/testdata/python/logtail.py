#!/usr/bin/python3
"""The log server of wsedge's README, after the seed's design: a Python
websockets server that streams a log file's lines, for wsedge's
interoperability suite. Run with Debian's /usr/bin/python3.

    logtail.py --root DIR [--lines 10] [--heartbeat 5] [--pong-timeout 5]

A connection to /NAME (a file under --root) first gets the file's last
--lines lines in one text message. Without ?tail=1 the server then
closes with 1000. With ?tail=1 it follows the file: what is appended is
sent as it comes, and every --heartbeat seconds it sends the text "ping"
and waits --pong-timeout seconds for the text "pong"; anything else, or
nothing, closes the connection with 1011 "ping error". A name outside
--root, or a missing file, gets 404 before the handshake.

It prints one JSON object a line on stdout: ready (its port), then open,
pong (each heartbeat answered) and close events.
"""
import argparse
import asyncio
import os
import time
from collections import deque
from http import HTTPStatus
from urllib.parse import parse_qs, unquote, urlsplit

import websockets

import peer


def resolve(root, request_path):
    """The file a request path names under root, or None."""
    name = unquote(urlsplit(request_path).path).lstrip("/")
    full = os.path.realpath(os.path.join(root, name))
    if not full.startswith(os.path.realpath(root) + os.sep) or not os.path.isfile(full):
        return None
    return full


def make_server(args):
    async def process_request(path, request_headers):
        if resolve(args.root, path) is None:
            return HTTPStatus.NOT_FOUND, [("Content-Type", "text/plain")], b"no such log\n"
        return None

    async def tail(ws, path=None):
        url = urlsplit(ws.path)
        follow = parse_qs(url.query).get("tail", ["0"])[0] == "1"
        peer.emit(event="open", path=url.path, tail=follow)
        try:
            with open(resolve(args.root, ws.path), encoding="utf-8", errors="replace") as f:
                await ws.send("".join(deque(f, args.lines)))
                if not follow:
                    await ws.close(1000, "end of log")
                else:
                    last_heartbeat = time.monotonic()
                    while True:
                        content = f.read()
                        if content:
                            await ws.send(content)
                        else:
                            # Polling the file, as the seed does; this
                            # sleep is the server's, not the test's.
                            await asyncio.sleep(0.05)
                        if time.monotonic() - last_heartbeat > args.heartbeat:
                            await ws.send("ping")
                            try:
                                pong = await asyncio.wait_for(ws.recv(), args.pong_timeout)
                            except asyncio.TimeoutError:
                                pong = None
                            if pong != "pong":
                                await ws.close(1011, "ping error")
                                break
                            peer.emit(event="pong", path=url.path)
                            last_heartbeat = time.monotonic()
        except websockets.ConnectionClosed:
            pass
        await ws.wait_closed()
        peer.emit(event="close", path=url.path, code=ws.close_code, reason=ws.close_reason or "")

    return tail, process_request


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--lines", type=int, default=10)
    p.add_argument("--heartbeat", type=float, default=5.0)
    p.add_argument("--pong-timeout", type=float, default=5.0)
    args = p.parse_args()
    handler, process_request = make_server(args)
    server = await websockets.serve(handler, "127.0.0.1", 0, process_request=process_request, ping_interval=None)
    peer.emit(event="ready", port=server.sockets[0].getsockname()[1], version=websockets.__version__)
    await asyncio.Future()


if __name__ == "__main__":
    peer.run(main)
