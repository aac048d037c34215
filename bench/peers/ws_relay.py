"""The peer of ``bench/relay_latency.py``: a minimal mobile relay written directly on
``websockets`` (no framework, no database, no auth beyond one shared token, no bounds), the
floor a hand-rolled relay reaches.

Same wire protocol subset as Beholder's ``/api/streams/ws`` so the same bench client drives
both: ``{"type": "auth", "token"}`` → ``auth-ok``; ``{"type": "register", "streamId"}`` →
``registered``; ``{"type": "subscribe", "streamId", "binary": true}`` → ``subscribed``; binary
relay frames (28-byte header, :mod:`beholder.contracts.relay_frame`) from the stream's
producer go to every subscriber of that stream with ``websockets.broadcast`` (the library's
fast path: one frame built, written to each connection without awaiting; nothing is dropped
or bounded, a slow consumer's buffer just grows).

usage: python bench/peers/ws_relay.py PORT   (prints ``READY`` once listening)
env:   RELAY_BENCH_TOKEN (default ``bench-token``)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid

from websockets.asyncio.server import ServerConnection, broadcast, serve

TOKEN = os.environ.get("RELAY_BENCH_TOKEN", "bench-token")
HEADER = 28

subscribers: dict[str, set[ServerConnection]] = {}
producers: dict[str, ServerConnection] = {}


async def handler(ws: ServerConnection) -> None:
    try:
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
    except (TimeoutError, ValueError):
        await ws.close(1008, "Unauthorized")
        return
    if first.get("type") != "auth" or first.get("token") != TOKEN:
        await ws.close(1008, "Unauthorized")
        return
    await ws.send(json.dumps({"type": "auth-ok", "principal": {"name": "bench", "role": "x"}}))
    mine: set[str] = set()
    produces: set[str] = set()
    try:
        async for msg in ws:
            if isinstance(msg, bytes):
                if len(msg) <= HEADER:
                    continue
                sid = str(uuid.UUID(bytes=msg[4:20]))
                if sid in produces:
                    broadcast(subscribers.get(sid, ()), msg)
                continue
            data = json.loads(msg)
            kind, sid = data.get("type"), data.get("streamId")
            if kind == "register" and sid:
                producers[sid] = ws
                produces.add(sid)
                await ws.send(json.dumps({"type": "registered", "streamId": sid}))
            elif kind == "subscribe" and sid:
                subscribers.setdefault(sid, set()).add(ws)
                mine.add(sid)
                await ws.send(
                    json.dumps({"type": "subscribed", "streamId": sid, "consumes": ["video"]})
                )
            elif kind == "ping":
                await ws.send(json.dumps({"type": "pong", "ts": data.get("ts")}))
    finally:
        for sid in mine:
            subscribers.get(sid, set()).discard(ws)
        for sid in produces:
            if producers.get(sid) is ws:
                del producers[sid]


async def main(port: int) -> None:
    async with serve(
        handler,
        "127.0.0.1",
        port,
        max_size=4 * 1024 * 1024,
        compression=None,
        ping_interval=None,
    ):
        print("READY", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    asyncio.run(main(int(sys.argv[1])))
