#!/usr/bin/env python3
"""Server memory under the hub replay flood (issue 9, finding 4), for several code trees in
one run: a real ``beholder serve`` per tree, the same attack, RSS sampled from /proc.

For each ``--code LABEL=SRC`` (a ``src`` directory put first on ``PYTHONPATH``): start
``python -m beholder serve`` (SQLite, in-memory bus, no worker) in a fresh data dir, seed
``--alerts`` alerts with ``--thumb-bytes`` of incompressible thumbnail each, warm up with
one honest replay, then open ``--clients`` dashboards that sign in, subscribe to
``alerts``, send ``--replays`` ``{"type": "replay"}`` messages and never read again
(4 KB kernel receive buffer, websockets queue of 1). The server's RSS is sampled every
0.2 s for ``--seconds``; the report gives the baseline, the peak and the growth, the
growth per client, and how each attacker's connection ended.

    .venv/bin/python bench/ws_flood.py --code old=/work/main/src --code new=src

The new code bounds each connection by ``BEHOLDER_WS_BACKLOG_BYTES`` (default 4 MiB) and
spaces replays (``BEHOLDER_WS_REPLAY_RATE``, default 6/minute): the goal is a growth below
clients × the bound.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets
from websockets.exceptions import ConnectionClosed

PASSWORD = "bench-admin-password-1"
MIB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(src: Path, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
    env.update(
        PYTHONPATH=str(src),
        BEHOLDER_DATA_DIR=str(data_dir),
        BEHOLDER_ADMIN_PASSWORD=PASSWORD,
        BEHOLDER_SECRET_KEY="bench-secret-" + "k" * 40,
        BEHOLDER_RUN_WORKER="false",
        BEHOLDER_LOG_LEVEL="WARNING",
        BEHOLDER_RATE_LIMIT_LOGIN="1000/minute",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "beholder", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=2) as client:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError(f"beholder serve exited with {proc.returncode}")
            try:
                if (await client.get("/api/system/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("beholder serve not ready after 30 s")


def _seed(db: Path, n: int, thumb_bytes: int) -> list[str]:
    """``n`` alerts (no camera), oldest first, straight into the SQLite file."""
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
    ids = [str(uuid.uuid4()) for _ in range(n)]
    rows = [
        (
            alert_id,
            "face-detection",
            "medium",
            "Face detected",
            json.dumps({"faces": [{"box": [1, 2, 3, 4], "confidence": 0.9}]}),
            base64.b64encode(os.urandom(thumb_bytes)).decode(),
            (start + timedelta(milliseconds=i)).isoformat(sep=" "),
        )
        for i, alert_id in enumerate(ids)
    ]
    with sqlite3.connect(db, timeout=10) as conn:
        conn.executemany(
            "INSERT INTO alerts (id, type, severity, message, metadata, thumbnail, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return ids


async def _dashboard(url: str, token: str, **kw: Any) -> websockets.ClientConnection:
    ws = await websockets.connect(url, max_size=None, **kw)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    assert json.loads(await ws.recv())["type"] == "auth-ok"
    await ws.send(json.dumps({"type": "subscribe", "topics": ["alerts"]}))
    while json.loads(await ws.recv())["type"] != "subscribed":
        pass
    return ws


async def _ending(ws: websockets.ClientConnection) -> str:
    """How the server ended an attacker's connection, read after the measurement."""
    try:
        async with asyncio.timeout(10):
            async for _ in ws:
                pass
    except ConnectionClosed:
        pass
    except TimeoutError:
        await ws.close()
        return "still open"
    rcvd = ws.protocol.close_rcvd
    return f"closed {rcvd.code}" if rcvd is not None else "aborted"


async def run_one(label: str, src: Path, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"wsflood-{label}-") as tmp:
        data_dir = Path(tmp) / "data"
        port = _free_port()
        proc = _start(src, data_dir, port)
        base = f"http://127.0.0.1:{port}"
        url = f"ws://127.0.0.1:{port}/ws"
        try:
            await _ready(base, proc)
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                r = await client.post(
                    "/api/auth/login", json={"username": "admin", "password": PASSWORD}
                )
                r.raise_for_status()
                token = r.json()["accessToken"]
            ids = _seed(data_dir / "beholder.db", args.alerts, args.thumb_bytes)
            server = psutil.Process(proc.pid)

            # warm-up: one honest client replays everything once (caches, pools, imports)
            ws = await _dashboard(url, token)
            await ws.send(json.dumps({"type": "replay", "lastAlertId": ids[0]}))
            while json.loads(await ws.recv())["type"] != "replayed":
                pass
            await ws.close()
            await asyncio.sleep(1.0)
            baseline = server.memory_info().rss

            attackers = []
            for _ in range(args.clients):
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.connect(("127.0.0.1", port))
                attackers.append(await _dashboard(url, token, sock=sock, max_queue=1))
            message = json.dumps({"type": "replay", "lastAlertId": ids[0]})
            for ws in attackers:
                for _ in range(args.replays):
                    await ws.send(message)
            peak = baseline
            t_end = time.monotonic() + args.seconds
            while time.monotonic() < t_end:
                peak = max(peak, server.memory_info().rss)
                await asyncio.sleep(0.2)
            final = server.memory_info().rss
            endings = await asyncio.gather(*(_ending(ws) for ws in attackers))
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {
        "code": label,
        "baselineMiB": round(baseline / MIB, 1),
        "peakMiB": round(peak / MIB, 1),
        "finalMiB": round(final / MIB, 1),
        "growthMiB": round((peak - baseline) / MIB, 1),
        "growthPerClientMiB": round((peak - baseline) / MIB / args.clients, 1),
        "attackers": {e: endings.count(e) for e in sorted(set(endings))},
    }


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--code", action="append", required=True, help="LABEL=SRC_DIR (repeat)")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--replays", type=int, default=30)
    p.add_argument("--alerts", type=int, default=500)
    p.add_argument("--thumb-bytes", type=int, default=4096, help="JPEG bytes before base64")
    p.add_argument("--seconds", type=float, default=15.0, help="RSS sampling after the flood")
    args = p.parse_args()
    print(
        f"# {args.clients} non-reading clients x {args.replays} replays of {args.alerts} "
        f"alerts ({args.thumb_bytes} B thumbnails); RSS of `beholder serve`",
        flush=True,
    )
    for spec in args.code:
        label, _, src = spec.partition("=")
        result = await run_one(label, Path(src).resolve(), args)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
