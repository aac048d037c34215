"""Shared parts of the relay benches (``relay_latency.py``, ``relay_round_trip.py``): start
``beholder serve`` on a temp SQLite data dir, sign in, register a stream, and the relay's
client-side handshakes.

Clock: frames carry their send time as ``CLOCK_MONOTONIC`` nanoseconds in a JPEG comment
segment (``FF FE``) right after the SOI marker, which every relay forwards untouched; all
processes of a bench run on this machine, so ``time.monotonic_ns()`` is comparable across
them. (The relay header's own timestamp is unix *milliseconds*, too coarse for p50.)
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.polling import wait_until

ADMIN_PASSWORD = "bench-admin-password-1"
STAMP = struct.Struct(">q")
_COM = b"\xff\xfe\x00\x0a"  # comment segment, length 10 = 2 (length) + 8 (stamp)
STAMP_AT = 28 + 2 + len(_COM)
"""Offset of the stamp in a binary relay message: header, SOI, COM marker + length."""


def stamped(header: bytes, jpeg: bytes) -> bytes:
    """A binary relay message: ``header`` + ``jpeg`` with the send time (monotonic ns) in a
    comment segment after its SOI."""
    return b"".join((header, b"\xff\xd8", _COM, STAMP.pack(time.monotonic_ns()), jpeg[2:]))


def stamp_of(message: bytes) -> int:
    """The monotonic ns stamped by :func:`stamped`."""
    return int(STAMP.unpack_from(message, STAMP_AT)[0])


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class Server:
    """A relay server process: ``url`` (http), ``token`` clients authenticate with."""

    name: str
    url: str
    token: str
    proc: subprocess.Popen[bytes]
    data_dir: Path | None = None

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_beholder(extra_env: dict[str, str] | None = None, worker: bool = False) -> Server:
    """``beholder serve`` on a free port, SQLite in a temp data dir, generous rate limits;
    returns once ``/api/system/health`` answers (admin ``admin`` / :data:`ADMIN_PASSWORD`)."""
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    env = dict(os.environ)
    env.update(
        {
            "BEHOLDER_DATA_DIR": str(data_dir),
            "BEHOLDER_HOST": "127.0.0.1",
            "BEHOLDER_PORT": str(port),
            "BEHOLDER_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "BEHOLDER_RUN_WORKER": "true" if worker else "false",
            "BEHOLDER_RATE_LIMIT_PER_IP": "100000/minute",
            "BEHOLDER_RATE_LIMIT_PER_PRINCIPAL": "100000/minute",
            "BEHOLDER_WS_UNAUTHENTICATED_PER_CLIENT": "1000",
            "BEHOLDER_RELAY_MAX_CONNECTIONS_PER_PRINCIPAL": "1000",
            "BEHOLDER_LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra_env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "beholder", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(data_dir / "server.log", "wb"),  # noqa: SIM115 - lives with the process
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"beholder exited: {(data_dir / 'server.log').read_text()[-3000:]}")
        try:
            return httpx.get(f"{url}/api/system/health", timeout=1).status_code < 500
        except httpx.HTTPError:
            return False

    wait_until(up, 60, "beholder to answer", every=0.2, error=TimeoutError)
    r = httpx.post(f"{url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    r.raise_for_status()
    return Server("beholder", url, r.json()["accessToken"], proc, data_dir)


def start_peer() -> Server:
    """``bench/peers/ws_relay.py`` on a free port (token ``bench-token``)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "peers" / "ws_relay.py"), str(port)],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"READY":
        raise RuntimeError("the websockets relay did not start")
    return Server("websockets-relay", f"http://127.0.0.1:{port}", "bench-token", proc)


def register_stream(server: Server, name: str = "bench phone") -> str:
    """A new stream id: registered over REST on Beholder, any UUID on the peer."""
    if not server.name.startswith("beholder"):
        import uuid

        return str(uuid.uuid4())
    r = httpx.post(
        f"{server.url}/api/streams/register",
        json={"deviceName": name, "deviceType": "bench"},
        headers={"Authorization": f"Bearer {server.token}"},
    )
    r.raise_for_status()
    return str(r.json()["streamId"])


def set_face_detection(server: Server, stream_id: str, enabled: bool) -> None:
    r = httpx.patch(
        f"{server.url}/api/streams/{stream_id}",
        json={"faceDetectionEnabled": enabled},
        headers={"Authorization": f"Bearer {server.token}"},
    )
    r.raise_for_status()


async def expect(ws: ClientConnection, kind: str, timeout: float = 15) -> dict[str, Any]:
    """The next text message of type ``kind`` (others skipped; ``error`` raises)."""
    async with asyncio.timeout(timeout):
        while True:
            raw = await ws.recv()
            if isinstance(raw, bytes):
                continue
            msg = json.loads(raw)
            if msg.get("type") == kind:
                return dict(msg)
            if msg.get("type") == "error":
                raise RuntimeError(f"relay error: {msg}")


async def connect(server: Server) -> ClientConnection:
    """A signed-in relay socket."""
    ws = await websockets.connect(
        f"{server.ws_url}/api/streams/ws",
        max_size=8 * 1024 * 1024,
        ping_interval=None,
        compression=None,
    )
    await ws.send(json.dumps({"type": "auth", "token": server.token}))
    await expect(ws, "auth-ok")
    return ws


async def producer(server: Server, stream_id: str) -> ClientConnection:
    ws = await connect(server)
    await ws.send(
        json.dumps(
            {
                "type": "register",
                "clientType": "mobile",
                "streamId": stream_id,
                "produces": ["video"],
                "consumes": ["alerts"],
            }
        )
    )
    await expect(ws, "registered")
    return ws


async def consumer(server: Server, stream_id: str) -> ClientConnection:
    ws = await connect(server)
    await ws.send(
        json.dumps(
            {
                "type": "subscribe",
                "clientType": "dashboard",
                "streamId": stream_id,
                "consumes": ["video"],
                "binary": True,
            }
        )
    )
    await expect(ws, "subscribed")
    return ws


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
