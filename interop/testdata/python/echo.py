#!/usr/bin/python3
"""A Python websockets echo server for wsedge's interoperability suite.

Run with Debian's /usr/bin/python3 (python3-websockets). It listens on
127.0.0.1 and a free port, with the library's defaults otherwise, which
means permessage-deflate is accepted when a client offers it (the
compression scenarios rely on that).

Every message is sent back with its type. Of the subprotocols offered it
picks the second (the first if only one). A text message
"!close CODE REASON" makes it close with that code and reason.

It prints one JSON object a line on stdout: ready (its port), then open
(id from ?id=, path, offered and chosen subprotocols, extensions) and
close (the code and reason it received) for every connection.
"""
import asyncio
import re
from urllib.parse import parse_qs, urlsplit

import websockets

import peer

CLOSE_COMMAND = re.compile(r"^!close (\d+) ?(.*)$", re.S)


def pick_second(client_subprotocols, server_subprotocols):
    if not client_subprotocols:
        return None
    return client_subprotocols[1] if len(client_subprotocols) > 1 else client_subprotocols[0]


async def echo(ws, path=None):
    url = urlsplit(ws.path)
    conn_id = parse_qs(url.query).get("id", [""])[0]
    offered = [p.strip() for p in ws.request_headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    peer.emit(
        event="open",
        id=conn_id,
        path=url.path,
        offered=offered,
        protocol=ws.subprotocol or "",
        extensions=", ".join(e.name for e in ws.extensions),
    )
    try:
        async for message in ws:
            if isinstance(message, str):
                m = CLOSE_COMMAND.match(message)
                if m:
                    await ws.close(int(m.group(1)), m.group(2))
                    break
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass
    await ws.wait_closed()
    peer.emit(event="close", id=conn_id, path=url.path, code=ws.close_code, reason=ws.close_reason or "")


async def main():
    server = await websockets.serve(
        echo,
        "127.0.0.1",
        0,
        # Any offer gets an answer: select_subprotocol is only asked when
        # the server lists some.
        subprotocols=["chat.v1", "chat.v2", "chat.v3", "a", "b", "c"],
        select_subprotocol=pick_second,
        max_size=64 * 1024 * 1024,
        ping_interval=None,
    )
    peer.emit(event="ready", port=server.sockets[0].getsockname()[1], version=websockets.__version__)
    await asyncio.Future()


if __name__ == "__main__":
    peer.run(main)
