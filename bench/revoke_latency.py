"""Revocation latency bench: an API key's hub socket, from ``POST /api/api-keys/{id}/revoke``
to the socket's close (issue 9, finding 6; goal < 1 s).

Runs the real app under uvicorn (SQLite in a temp dir; ``--nats``: two api instances on one
database sharing the nats-server at 127.0.0.1:4222 under a private subject prefix, the
socket on the second, the revoke sent to the first). Each trial creates a key, opens a
``/ws`` with it (authenticated, subscribed), revokes the key and stamps the moment the client
sees the close. The periodic re-check runs every 300 s here, so only the revocation event can
close the socket in time.

Figures, in ms: ``after_return`` = close seen − REST call returned (negative: the socket was
closed before the response arrived), ``after_request`` = close seen − request sent.

Usage: ``.venv/bin/python bench/revoke_latency.py [--trials 20] [--nats] [--json out.json]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from beholder.bus.nats import NatsBus
from beholder.config import BusSettings
from support.api import LiveApi, start_live_api, stop_live_api
from support.bus import NATS_URL, PrefixedBus, nats_up
from support.settings import make_settings


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(_pct(values, 0.5), 1),
        "p90": round(_pct(values, 0.9), 1),
        "max": round(max(values), 1),
        "mean": round(statistics.mean(values), 1),
    }


async def _trial(admin_api: LiveApi, socket_api: LiveApi) -> tuple[float, float]:
    headers = await admin_api.headers("admin")
    r = await admin_api.client.post(
        "/api/api-keys",
        json={"name": f"b-{uuid.uuid4().hex[:6]}", "scope": "ml-service"},
        headers=headers,
    )
    key_id, key = r.json()["id"], r.json()["key"]
    ws = await websockets.connect(socket_api.ws_url)
    await ws.send(json.dumps({"type": "auth", "token": key}))
    assert json.loads(await ws.recv())["type"] == "auth-ok"
    await ws.send(json.dumps({"type": "subscribe", "topics": ["cameras"]}))
    assert json.loads(await ws.recv())["type"] == "subscribed"
    closed_at: list[float] = []

    async def watch() -> None:
        await ws.wait_closed()
        closed_at.append(time.perf_counter())

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0)
    t_request = time.perf_counter()
    r = await admin_api.client.post(f"/api/api-keys/{key_id}/revoke", headers=headers)
    t_return = time.perf_counter()
    assert r.status_code == 200, r.text
    await asyncio.wait_for(watcher, 10)
    assert ws.close_code == 4401, ws.close_code
    return (closed_at[0] - t_return) * 1000, (closed_at[0] - t_request) * 1000


async def run(trials: int, over_nats: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        base: dict[str, Any] = {"auth_recheck_interval": 300.0, "log_level": "ERROR"}
        if over_nats:
            if not nats_up():
                raise SystemExit("no nats-server on 127.0.0.1:4222")
            prefix = f"bench{uuid.uuid4().hex[:8]}"
            apis = [
                await start_live_api(
                    make_settings(Path(tmp), bus=BusSettings(url=NATS_URL), **base),
                    bus=PrefixedBus(NatsBus(NATS_URL), prefix),
                )
                for _ in range(2)
            ]
        else:
            apis = [await start_live_api(make_settings(Path(tmp), **base))]
        try:
            after_return: list[float] = []
            after_request: list[float] = []
            await _trial(apis[0], apis[-1])  # warm-up (imports, first queries)
            for _ in range(trials):
                a, b = await _trial(apis[0], apis[-1])
                after_return.append(a)
                after_request.append(b)
            return {
                "trials": trials,
                "mode": "two api instances over NATS" if over_nats else "one api instance",
                "after_return_ms": _summary(after_return),
                "after_request_ms": _summary(after_request),
                "loadavg_1m": round(os.getloadavg()[0], 2),
            }
        finally:
            for api in reversed(apis):
                await stop_live_api(api)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--nats", action="store_true", help="socket and revoke on two instances")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    result = asyncio.run(run(args.trials, args.nats))
    print(json.dumps(result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
