#!/usr/bin/python3
"""The light server of wsedge's README: a Python websockets server that
answers /light/on and /light/off, for wsedge's interoperability suite.
Run with Debian's /usr/bin/python3.

    light.py --token SECRET

A handshake must carry ?token=SECRET (else 403 "forbidden: bad token")
and name a status the light knows, on or off (else 404). The connection
then gets the text "light is STATUS", and after that the same answer to
every message, until it closes.

It prints one JSON object a line on stdout: ready (its port), then open
(path, light status) and close events.
"""
import argparse
import asyncio
import re
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import websockets

import peer

LIGHT_PATH = re.compile(r"^/light/([^/]+)$")


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--token", required=True)
    args = p.parse_args()

    async def process_request(path, request_headers):
        url = urlsplit(path)
        if parse_qs(url.query).get("token", [""])[0] != args.token:
            return HTTPStatus.FORBIDDEN, [("Content-Type", "text/plain")], b"forbidden: bad token\n"
        m = LIGHT_PATH.match(url.path)
        if not m or m.group(1) not in ("on", "off"):
            return HTTPStatus.NOT_FOUND, [("Content-Type", "text/plain")], b"no such light status\n"
        return None

    async def light(ws, path=None):
        url = urlsplit(ws.path)
        status = LIGHT_PATH.match(url.path).group(1)
        peer.emit(event="open", path=url.path, light=status)
        try:
            await ws.send(f"light is {status}")
            async for _ in ws:
                await ws.send(f"light is {status}")
        except websockets.ConnectionClosed:
            pass
        await ws.wait_closed()
        peer.emit(event="close", path=url.path, code=ws.close_code, reason=ws.close_reason or "")

    server = await websockets.serve(light, "127.0.0.1", 0, process_request=process_request, ping_interval=None)
    peer.emit(event="ready", port=server.sockets[0].getsockname()[1], version=websockets.__version__)
    await asyncio.Future()


if __name__ == "__main__":
    peer.run(main)
