#!/usr/bin/python3
"""scripts/cluster-demo -check: what a browser user would try, checked.

Run with Debian's /usr/bin/python3 (python3-websockets) once the demo is
up: three wsedge instances (edge-1..3) on one NATS, behind HAProxy's
balanced frontend (PORT) and one frontend per instance (PORT+1..PORT+3).

  1. balanced: three /echo sockets through PORT, one after the other,
     land on three different instances (roundrobin) and are echoed.
  2. chat: client A through PORT+1 (edge-1), B through PORT+2 (edge-2)
     and C through PORT+3 (edge-3) join /chat/lobby, each from a source
     address of its own (127.0.0.11, .12, .13) so that HAProxy's
     127.0.0.1 cannot be taken for one; each sends one message, and each
     must get all three exactly once.
  3. each instance logged its client's own address and port
     (client=127.0.0.1N:PORT, from the PROXY v2 header), and no
     websocket was logged with HAProxy's 127.0.0.1 as its client.
  4. wsedge_cluster_messages_received_total is 2 on each instance (the
     other two instances' messages).
  5. edge-2 is killed (SIGKILL): B's connection ends; A and C each send
     one more message and each gets both, exactly once; three /echo
     sockets through the balanced PORT still open (HAProxy's health
     checks and redispatch route around edge-2).

Prints PASS/FAIL per check; exits 1 if one failed.
"""
import argparse
import asyncio
import os
import re
import signal
import sys
import time
import urllib.request

import websockets

# How long a message or a close may take to arrive.
TIMEOUT = 5.0
# After the last expected message, how long to watch for a duplicate.
QUIET = 0.5

failed = False


def result(ok, what):
    global failed
    print(("PASS: " if ok else "FAIL: ") + what, flush=True)
    if not ok:
        failed = True
    return ok


class Client:
    """One chat member: a socket and everything it received."""

    def __init__(self, name, instance, src, url):
        self.name, self.instance, self.src, self.url = name, instance, src, url
        self.got = []
        self.mark = 0  # where the current exchange starts in got
        self.changed = asyncio.Event()
        self.ended = asyncio.Event()
        self.ws = None
        self.source = None

    async def open(self):
        self.ws = await websockets.connect(
            self.url, local_addr=(self.src, 0), ping_interval=None,
            open_timeout=TIMEOUT, close_timeout=2, compression=None)
        self.source = "%s:%d" % self.ws.local_address[:2]
        print("    %s: %s from %s (%s)" % (self.name, self.url, self.source, self.instance), flush=True)
        self.reader = asyncio.create_task(self.read())

    async def pinged(self):
        """Sends a ping and waits for its pong."""
        await asyncio.wait_for(await self.ws.ping(), TIMEOUT)

    async def read(self):
        try:
            async for message in self.ws:
                self.got.append(message)
                self.changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.ended.set()
            self.changed.set()

    async def wait_for(self, want, deadline):
        """Waits until every message of want has come, or deadline."""
        while not all(m in self.got for m in want):
            left = deadline - time.monotonic()
            if left <= 0 or self.ended.is_set():
                return
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                return

    def set_mark(self):
        self.mark = len(self.got)

    def exactly(self, want):
        """Checks that what came since set_mark is want, each once."""
        got = self.got[self.mark:]
        problems = []
        for m in want:
            n = got.count(m)
            if n != 1:
                problems.append("%r %d times" % (m, n))
        extra = [m for m in got if m not in want]
        if extra:
            problems.append("unexpected %r" % extra)
        return result(not problems, "%s (%s) got %s exactly once%s" % (
            self.name, self.instance, " and ".join(repr(m) for m in want),
            ": " + ", ".join(problems) if problems else ""))


async def exchange(clients, senders, tag):
    """Each sender sends one message; every client must get each once."""
    for c in clients:
        c.set_mark()
    want = ["%s: hello from %s on %s (%s)" % (tag, s.name, s.instance, s.source) for s in senders]
    await asyncio.gather(*(s.ws.send(m) for s, m in zip(senders, want)))
    deadline = time.monotonic() + TIMEOUT
    await asyncio.gather(*(c.wait_for(want, deadline) for c in clients))
    # A duplicate would come right behind: give it a moment.
    await asyncio.sleep(QUIET)
    for c in clients:
        c.exactly(want)


def opened(logs, client, deadline):
    """The first of logs (1-based) with a "websocket opened" line with
    exactly client=IP:PORT, and that line; (None, None) if none has one
    by deadline."""
    ip, port = client.rsplit(":", 1)
    pattern = re.compile(r'msg="websocket opened" .*client=%s:%s( |$)' % (re.escape(ip), port))
    while True:
        for n, log in enumerate(logs, 1):
            with open(log, errors="replace") as f:
                for line in f:
                    if pattern.search(line):
                        return n, line.rstrip("\n")
        if time.monotonic() > deadline:
            return None, None
        time.sleep(0.1)


def metric(url, name):
    """The value of an unlabelled metric on a /metrics page, or None."""
    with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
        for line in r.read().decode().splitlines():
            fields = line.split()
            if len(fields) == 2 and fields[0] == name:
                return float(fields[1])
    return None


async def balanced_echo(args, src, what):
    """Three /echo sockets through the balanced frontend; returns their
    source addresses (None for one that failed)."""
    url = "ws://127.0.0.1:%d/echo" % args.port
    sources = []
    for i in range(3):
        msg = "%s echo %d" % (what, i)
        try:
            async with websockets.connect(url, local_addr=(src, 0), ping_interval=None,
                                          open_timeout=TIMEOUT, close_timeout=2, compression=None) as ws:
                source = "%s:%d" % ws.local_address[:2]
                await ws.send(msg)
                echo = await asyncio.wait_for(ws.recv(), TIMEOUT)
                ok = echo == msg
                result(ok, "balanced %s: %s from %s echoed%s" % (what, url, source, "" if ok else ": got %r" % echo))
                sources.append(source if ok else None)
        except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as e:
            result(False, "balanced %s: %s: %s" % (what, url, e or type(e).__name__))
            sources.append(None)
    return sources


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--work", required=True, help="the demo's working directory (edge-N.log)")
    p.add_argument("--port", type=int, required=True, help="HAProxy's balanced port; PORT+N is edge-N")
    p.add_argument("--admin", required=True, help="the admin ports of edge-1,2,3, comma-separated")
    p.add_argument("--edge2-pid", type=int, required=True, help="edge-2's process, killed in step 5")
    args = p.parse_args()
    admin = [int(x) for x in args.admin.split(",")]
    logs = [os.path.join(args.work, "edge-%d.log" % n) for n in (1, 2, 3)]

    print("== 1. balanced frontend 127.0.0.1:%d: roundrobin over the three instances" % args.port, flush=True)
    sources = await balanced_echo(args, "127.0.0.20", "before")
    deadline = time.monotonic() + 3
    on = [opened(logs, s, deadline)[0] if s else None for s in sources]
    result(sorted(x for x in on if x) == [1, 2, 3],
           "the three balanced sockets landed on edge-%s" % ", edge-".join(str(x) for x in on))

    print("== 2. chat: A on edge-1, B on edge-2, C on edge-3, room lobby", flush=True)
    a, b, c = clients = [
        Client(name, "edge-%d" % n, "127.0.0.1%d" % n, "ws://127.0.0.1:%d/chat/lobby" % (args.port + n))
        for n, name in zip((1, 2, 3), "ABC")
    ]
    try:
        await asyncio.gather(*(cl.open() for cl in clients))
    except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as e:
        result(False, "A, B and C joined /chat/lobby: %s" % (e or type(e).__name__))
        return
    result(True, "A, B and C joined /chat/lobby")
    # wsedge admits a member to its room only after the 101 (when its
    # handler starts), so a message sent the moment the last 101 is in
    # may miss that member. A pong proves the member's reader runs, and
    # it runs only once the member is in the room.
    try:
        await asyncio.gather(*(cl.pinged() for cl in clients))
    except (asyncio.TimeoutError, websockets.ConnectionClosed) as e:
        result(False, "A, B and C answered a ping (members of the room): %s" % (e or type(e).__name__))
        return
    result(True, "A, B and C answered a ping: members of the room")
    await exchange(clients, clients, "1")

    print("== 3. client addresses in the instances' logs (PROXY v2 from HAProxy)", flush=True)
    deadline = time.monotonic() + 3
    for cl, log in zip(clients, logs):
        _, line = opened([log], cl.source, deadline)
        if result(line is not None, "%s logged client=%s, %s's own address and port" % (cl.instance, cl.source, cl.name)):
            print("    " + line)
    for n, log in enumerate(logs, 1):
        with open(log, errors="replace") as f:
            bad = [l.rstrip("\n") for l in f if re.search(r'msg="websocket (opened|closed)" .*client=127\.0\.0\.1:', l)]
        result(not bad, "edge-%d logged no websocket with HAProxy's 127.0.0.1 as its client%s" % (
            n, "".join("\n    " + l for l in bad)))

    print("== 4. cluster metrics", flush=True)
    for n, port in enumerate(admin, 1):
        url = "http://127.0.0.1:%d/metrics" % port
        try:
            got = metric(url, "wsedge_cluster_messages_received_total")
            published = metric(url, "wsedge_cluster_messages_published_total")
        except OSError as e:
            result(False, "edge-%d: %s: %s" % (n, url, e))
            continue
        result(got == 2, "edge-%d: wsedge_cluster_messages_received_total %s, want 2 (published %s)" % (
            n, "missing" if got is None else "%g" % got, "missing" if published is None else "%g" % published))

    print("== 5. edge-2 killed (SIGKILL, pid %d)" % args.edge2_pid, flush=True)
    os.kill(args.edge2_pid, signal.SIGKILL)
    try:
        await asyncio.wait_for(b.ended.wait(), TIMEOUT)
        result(True, "B's connection ended (close code %s: HAProxy closed it when edge-2 went)" % b.ws.close_code)
    except asyncio.TimeoutError:
        result(False, "B's connection is still open %g s after edge-2 was killed" % TIMEOUT)
    await exchange([a, c], [a, c], "2")
    await balanced_echo(args, "127.0.0.21", "after")

    for cl in (a, c):
        await cl.ws.close()
    for cl in clients:
        cl.reader.cancel()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(1 if failed else 0)
