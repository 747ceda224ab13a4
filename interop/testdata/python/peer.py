"""What the interop suite's Python peers share: the JSON event lines the
Go tests read on their stdout, and running a peer's asyncio main until it
is killed."""

import asyncio
import json
import sys


def emit(**event):
    """Write one event (ready, message, close...) as a JSON line."""
    print(json.dumps(event), flush=True)


def run(main):
    """Run the coroutine function main until the test stops the peer."""
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
