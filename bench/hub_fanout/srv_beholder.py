"""Peer 5: Beholder's dashboard hub in a real FastAPI app on uvicorn (the shared contract:
prints READY; SIGUSR2 -> M alerts at RATE/s; prints SENT).

Alerts go through the in-memory bus like the api's path: publish on ``camera.events`` ->
bus subscriber parses the payload -> ``hub.broadcast("alerts", msg, camera_id=...)``.
Clients must authenticate (API key checked per connection: prefix lookup + SHA-256 +
constant-time compare, as the api does minus the DB) and subscribe to ``alerts``.

usage: /work/main/.venv/bin/python srv_beholder.py [--mount=starlette] PORT M RATE
env:   HUB_BENCH_TOKEN (the API key clients present), HUB_WS (uvicorn ws impl, default
       websockets-sansio), PYLOOP=asyncio (no uvloop), HUB_DEFLATE=1 (let uvicorn negotiate
       permessage-deflate; the hub then uses the ASGI path for those connections),
       HUB_MOUNT=starlette or --mount=starlette: mount with app.router.add_websocket_route
       instead of app.add_api_websocket_route (saves ~4 KB per client).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import uvicorn
from fastapi import FastAPI

from beholder.auth.api_keys import hash_api_key, key_matches, parse_prefix
from beholder.auth.roles import SCOPE_ROLE, ApiKeyScope, Principal
from beholder.bus import BusMessage, MemoryBus
from beholder.config import Settings
from beholder.errors import Unauthorized
from beholder.messages import Subjects
from beholder.realtime import Hub

FLAGS = {a for a in sys.argv[1:] if a.startswith("--")}
ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
PORT = int(ARGS[0])
M = int(ARGS[1]) if len(ARGS) > 1 else 200
RATE = float(ARGS[2]) if len(ARGS) > 2 else 20.0
MOUNT = "starlette" if "--mount=starlette" in FLAGS else os.environ.get("HUB_MOUNT", "fastapi")
TOKEN = os.environ.get("HUB_BENCH_TOKEN", "bhk_000000000000_bench-secret-key-for-the-hub-benchmark")
TPL = json.loads(Path("/work/shared/peers/alert_template.json").read_text())

# "stored" key: prefix -> (key id, sha256); the token itself is never kept server-side
KEYS = {parse_prefix(TOKEN): ("key-1", hash_api_key(TOKEN))}


async def authenticate(token: str) -> Principal:
    prefix = parse_prefix(token)
    stored = KEYS.get(prefix) if prefix else None
    if stored is None or not key_matches(token, stored[1]):
        raise Unauthorized("Invalid credentials.")
    return Principal(
        kind="api_key",
        id=stored[0],
        name="bench",
        role=SCOPE_ROLE[ApiKeyScope.ML_SERVICE],
        scope=ApiKeyScope.ML_SERVICE,
    )


async def replay(last_alert_id: str, limit: int) -> list[dict[str, object]]:
    return []


def make_msg(i: int) -> dict[str, object]:
    # same clock and key order as the peers: the client reads '{"ts":<float>,"seq":<int>,'
    return {"ts": time.monotonic() * 1000.0, "seq": i, **TPL}


async def main() -> None:
    data_dir = tempfile.mkdtemp(prefix="hub-bench-")
    settings = Settings(data_dir=Path(data_dir))
    bus = MemoryBus()
    hub = Hub(settings.hub, authenticate, replay)

    async def on_alert(msg: BusMessage) -> None:
        alert = orjson.loads(msg.data)
        hub.broadcast("alerts", alert, camera_id=alert.get("cameraId"))

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        await bus.start()
        await bus.subscribe(Subjects.CAMERA_EVENTS, on_alert)
        await hub.start()
        yield
        await hub.close()
        await bus.close()

    app = FastAPI(lifespan=lifespan)
    if MOUNT == "starlette":  # plain Starlette route: no FastAPI dependency machinery
        app.router.add_websocket_route("/ws", hub.endpoint)
    else:
        app.add_api_websocket_route("/ws", hub.endpoint)

    cfg = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=PORT,
        log_level="warning",
        loop="uvloop",
        http="httptools",
        ws=os.environ.get("HUB_WS", "websockets-sansio"),  # type: ignore[arg-type]
        ws_per_message_deflate=os.environ.get("HUB_DEFLATE") == "1",
        ws_ping_interval=None,
        backlog=2048,
    )
    server = uvicorn.Server(cfg)
    loop = asyncio.get_running_loop()
    running = False
    tasks: list[asyncio.Task[None]] = []

    async def paced() -> None:
        t0 = time.perf_counter()
        late = 0.0
        for i in range(M):
            d = t0 + i / RATE - time.perf_counter()
            if d > 0:
                await asyncio.sleep(d)
            else:
                late = max(late, -d)
            await bus.publish(Subjects.CAMERA_EVENTS, orjson.dumps(make_msg(i)))
        print(f"SENT {M} {time.perf_counter() - t0:.3f} {late * 1000:.2f}", flush=True)
        print(f"STATS {json.dumps(hub.stats())}", flush=True)

    def trigger() -> None:
        nonlocal running
        if not running:
            running = True
            tasks.append(loop.create_task(paced()))

    loop.add_signal_handler(signal.SIGUSR2, trigger)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            return
        await asyncio.sleep(0.05)
    print("READY", flush=True)
    await task


if __name__ == "__main__":
    if os.environ.get("PYLOOP", "uvloop") == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())
