#!/usr/bin/env python3
"""NVR fleet bench (issue 11): N simulated NVR agents × C channels over real WebSockets on
loopback against a running ``beholder serve`` (a subprocess), driving R status changes/s.

What it does:

1. starts ``beholder serve`` (SQLite in a temp dir, worker off: no camera is started, the
   api alone is measured) and creates N NVRs and one ``nvr`` key each over REST;
2. connects N agents (lightweight asyncio tasks, one process: ``auth``, ``register`` with C
   channels, ``heartbeat`` every ``--heartbeat`` s, ``pong`` to pings) and D dashboards on
   the hub ``/ws`` subscribed to ``nvrs``, ``cameras`` and ``stats``; each agent connects
   from its own loopback address (127.0.x.y), as sites do;
3. for ``--seconds`` s, makes R changes per second, each one of:
   * (``--disconnect-share``) an agent closes its socket → expect ``nvr_offline`` for its
     NVR; it reconnects and registers at once → expect ``nvr_online``;
   * otherwise a ``probe-report`` flips one channel's reachability → expect
     ``camera-status-update`` for that camera with the new ``reachability``;
4. reports the server's CPU over the drive window (psutil, % of one core), event →
   dashboard latency p50/p99/max (from the agent's send to the timed dashboard (the first) receiving
   the matching message; a reconnect counts from the new socket's ``register``), changes
   seen / made, and hub messages per dashboard per second by type.

    .venv/bin/python bench/nvr_fleet.py [--agents 500] [--channels 16] [--rate 100]
        [--seconds 30] [--dashboards 5] [--disconnect-share 0.2] [--json]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--profile out.prof]

Figures (2026-12-02, the 2-core development machine shared with ~7 other jobs; 500 agents ×
16 channels = 8000 cameras, 5 dashboards, 30 s of driving; the goal is p99 < 1 s). "flips":
every change is one channel's reachability flipping in a probe report; "bounces": that share
of the draws instead closes an agent's socket and reconnects it (each bounce is an NVR going
offline and online with its 16 cameras: ~34 status changes and a re-registration).

================================== ===== ======= ======= ======= ========= ===========
run                                load  cpu %¹  p50 ms  p99 ms  seen/made msgs/dash/s²
================================== ===== ======= ======= ======= ========= ===========
before the socket's call bound³:
SQLite 100/s, 20 % bounces          10    60      35 226  55 424  2582/3612  300
SQLite 100/s flips                  9     70      4 636   16 696  1968/3000  120
PostgreSQL 100/s flips (494 pool    8     57      2 947   17 712  2077/3000  127
  timeouts)
bound 1 on SQLite:
SQLite 100/s flips                  9     62      2 312   9 219   2558/3000  157
SQLite 100/s flips (after the API   3     65      3 502   13 470  2603/3000  160
  helper's alert-dedupe fix)
SQLite 100/s flips                  1     89      1 556   7 135   2761/3000  169
SQLite 50/s flips (cProfile on)     6     64      273     1 292   1500/1500  93
bound 4 on SQLite (the default):
SQLite 100/s flips                  1     80      617     2 759   3000/3000  184
SQLite 100/s, 2 % bounces           2.8   78      69      879     3048/3052  248
SQLite 100/s, 20 % bounces          1.5   87      13 313  30 434  2442/3578  321
i11-perf, same session, before → after⁴:
SQLite 100/s flips, before          —     73      11      182     3000/3000  184
SQLite 100/s flips, after           —     47      4.9     32      3000/3000  184
SQLite 100/s, 2 % bounces, before   —     85      794     2 619   3043/3059  256
SQLite 100/s, 2 % bounces, after    —     52      5.5     73      3078/3078  285
SQLite 100/s, 20 % bounces, before  —     94      4 361   15 042  2885/3594  480
SQLite 100/s, 20 % bounces, after   —     77      11      216     3614/3618  1016
second pair, before/after alternated per scenario:
SQLite 100/s flips, before          —     56      5.1     131     3000/3000  184
SQLite 100/s flips, after           —     40      3.7     13      3000/3000  184
SQLite 100/s, 2 % bounces, before   —     89      18      247     3058/3058  260
SQLite 100/s, 2 % bounces, after    —     48      4.2     56      3055/3055  255
SQLite 100/s, 20 % bounces, before  —     92      2 626   11 216  2962/3600  574
SQLite 100/s, 20 % bounces, after⁵  —     76      43      474     3560/3582  965
================================== ===== ======= ======= ======= ========= ===========

¹ the server process, % of one core, over the drive window. ² hub messages per dashboard
per second, all types: ``camera-status-update`` and ``nvr_status_update`` one each per
change (the NVR's is not coalesced), ``stats:updated`` ≤ 2/s (debounced 500 ms), the rest
``nvr_online``/``nvr_offline``. ³ how many service calls the agent socket lets run at once
(:mod:`beholder.realtime.agents`), with register/disconnect of one NVR kept in order.
Reading: the hub delivers at once (the server's part — agent send to the message's
``timestamp``, made after persisting — is within 20 ms of the total in every run); the time
goes before the broadcast, in the fleet service's persistence (a probe report costs three
transactions and a re-read of the NVR's camera tallies), which on this machine keeps up with
100 changes/s with a few reconnections (2 % bounces: p50 69 ms, p99 0.88 s — the goal),
about 100 flips/s at p50 0.6 s / p99 2.8 s, and not re-registrations at 20/s (16 camera
upserts each, twice the cascade). Runs vary by several × with the machine's other load.

⁴ i11-perf (load column not recorded), before = i11-int 33aff24, both sets run back to back
in one session: a probe report is one transaction (the heartbeat folded in, the NVR's
``nvr_status_update`` counted from the camera rows the transaction read instead of a second
session re-reading the NVR and two GROUP BYs); the cascade's transitions read the NVR's
cameras once (no refresh, no tally query, no second camera read); a registration reads the
NVR's cameras once instead of one SELECT per channel, and one that changes nothing on an
online NVR writes nothing; a heartbeat within half a heartbeat of a probe report's write is
not written. Same scenarios as above. This session's before figures differ from the
earlier rows of the same code (flips p99 182 ms against 2.8 s, 2 % bounces 2.6 s against
0.88 s, 20 % bounces 15 s against 30 s: the machine's other load), so compare within the
session. "Unseen" after (2 bounces of ~600 with 20 %): not investigated; most likely
reconnects whose register reached the server before the old socket's end (the NVR then
never goes offline server-side, while the bench still expects nvr_offline/nvr_online); the
before runs have the same kind. More messages per dashboard after with 20 % bounces: every
bounce's 16-camera cascade now gets through within the window instead of queueing.

⁵ max 19.1 s (one change or a few; p99 0.47 s, mean 0.11 s) and 11 bounces unseen: the
20 % bounces case stays the one near the limit on this machine; the outlier was not
investigated (no agent errors, no register retries). A possible bench artifact: a bounce
with no nvr_offline (see ⁴) leaves its expectation queued, and the same agent's next bounce
then matches it (FIFO per key), timing the gap between the two bounces.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets

ROOT = Path(__file__).resolve().parents[1]
PW = "bench-admin-password"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))], 1)


@dataclass
class Fleet:
    url: str
    ws: str
    heartbeat: float
    pending: dict[tuple[str, str], collections.deque[tuple[float, float]]] = field(
        default_factory=lambda: collections.defaultdict(collections.deque)
    )
    latencies: list[float] = field(default_factory=list)
    server_part: list[float] = field(default_factory=list)
    made: int = 0
    seen: int = 0
    by_type: collections.Counter[str] = field(default_factory=collections.Counter)
    dashboard_messages: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    register_retries: int = 0

    def expect(self, key: tuple[str, str]) -> None:
        self.pending[key].append((time.perf_counter(), time.time()))
        self.made += 1

    def saw(self, key: tuple[str, str], stamp: str | None) -> None:
        """The timed dashboard saw a change: ends its wait (FIFO per camera and state).
        ``stamp``: the message's ``timestamp`` (when the server made it, after persisting),
        which splits the latency into the server's part and the delivery's."""
        waiting = self.pending.get(key)
        if waiting:
            t0, wall0 = waiting.popleft()
            self.latencies.append((time.perf_counter() - t0) * 1000)
            if stamp:
                made = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
                self.server_part.append((made - wall0) * 1000)
            self.seen += 1


class Agent:
    """One simulated NVR agent."""

    def __init__(
        self, fleet: Fleet, nvr: dict[str, Any], key: str, channels: int, index: int
    ) -> None:
        # Each site from its own address (Linux routes all of 127/8 to lo), as in the field:
        # the server's per-address admission cap applies to each agent alone.
        self.local = (f"127.0.{1 + index // 250}.{1 + index % 250}", 0)
        self.fleet = fleet
        self.nvr = nvr
        self.key = key
        self.channels = channels
        self.reachable = dict.fromkeys(range(1, channels + 1), True)
        self.cameras: dict[int, str] = {}
        self.ws: Any = None
        self.registered = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.busy = False
        self.beats: asyncio.Task[None] | None = None

    def register_message(self) -> str:
        host = self.nvr["hostname"]
        return json.dumps(
            {
                "type": "register",
                "hostname": host,
                "deviceName": self.nvr["deviceName"] or host,
                "region": self.nvr["region"],
                "channels": [
                    {"number": n, "url": f"rtsp://viewer:pw@10.1.{n}.1:554/{host}/ch{n}"}
                    for n in range(1, self.channels + 1)
                ],
            }
        )

    async def connect(self, expect_online: bool = False) -> None:
        """Connect, auth, register (timing ``nvr_online`` from the register when asked);
        as the real agent, a refused or unanswered attempt is retried after a pause."""
        while True:
            self.registered.clear()
            try:
                self.ws = await websockets.connect(
                    self.fleet.ws, max_queue=None, ping_interval=None, local_addr=self.local
                )
                await self.ws.send(json.dumps({"type": "auth", "token": self.key}))
                if expect_online:
                    self.fleet.expect((self.nvr["id"], "nvr_online"))
                    expect_online = False
                await self.ws.send(self.register_message())
                self.task = asyncio.create_task(self.read(self.ws))
                waiter = asyncio.create_task(self.registered.wait())
                await asyncio.wait({waiter, self.task}, timeout=20, return_when="FIRST_COMPLETED")
                waiter.cancel()
                if self.registered.is_set():
                    if self.beats is None:
                        self.beats = asyncio.create_task(self.heartbeats())
                    return
            except (OSError, websockets.WebSocketException):
                pass
            self.fleet.register_retries += 1
            with contextlib.suppress(Exception):
                await self.ws.close()
            await asyncio.sleep(random.uniform(0.5, 1.5))

    async def read(self, ws: Any) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                msg = json.loads(raw)
                kind = msg.get("type")
                if kind == "registered":
                    self.registered.set()
                elif kind == "ping":
                    await ws.send(json.dumps({"type": "pong", "ts": msg.get("ts")}))
                elif kind == "error":
                    code = msg["error"]["code"]
                    self.fleet.errors[code] += 1
                    if not self.registered.is_set():  # connect() tries again
                        await ws.close()

    async def heartbeats(self) -> None:
        await asyncio.sleep(random.uniform(0, self.fleet.heartbeat))
        while True:
            if self.ws is not None and not self.busy:
                with contextlib.suppress(websockets.ConnectionClosed):
                    await self.ws.send(json.dumps({"type": "heartbeat"}))
            await asyncio.sleep(self.fleet.heartbeat)

    async def flip(self) -> None:
        n = random.randint(1, self.channels)
        self.reachable[n] = not self.reachable[n]
        state = "online" if self.reachable[n] else "offline"
        self.fleet.expect((self.cameras[n], state))
        entry: dict[str, Any] = {"number": n, "reachable": self.reachable[n]}
        if not self.reachable[n]:
            entry["error"] = "timeout"
        else:
            entry.update(latencyMs=3.0, codec="H264", width=1920, height=1080)
        await self.ws.send(json.dumps({"type": "probe-report", "channels": [entry]}))

    async def bounce(self) -> None:
        """Close the socket (→ nvr_offline), reconnect and register (→ nvr_online)."""
        self.busy = True
        try:
            nvr_id = self.nvr["id"]
            self.fleet.expect((nvr_id, "nvr_offline"))
            await self.ws.close()
            if self.task is not None:
                await self.task
            await self.connect(expect_online=True)
            # the last state, as the real agent resends it: reachable cameras come back
            await self.ws.send(
                json.dumps(
                    {
                        "type": "probe-report",
                        "channels": [
                            {"number": n, "reachable": r, **({} if r else {"error": "timeout"})}
                            for n, r in self.reachable.items()
                        ],
                    }
                )
            )
        finally:
            self.busy = False
        self.beats: asyncio.Task[None] | None = None


async def dashboard(fleet: Fleet, token: str, ready: asyncio.Event, timed: bool) -> None:
    """A hub client; ``timed``: this one's receive times are the latency figures (every
    dashboard gets every message: one is enough, and matching stays one-to-one)."""
    async with websockets.connect(fleet.ws.replace("/api/nvrs/ws", "/ws"), max_queue=None) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        await ws.send(json.dumps({"type": "subscribe", "topics": ["nvrs", "cameras", "stats"]}))
        ready.set()
        async for raw in ws:
            msg = json.loads(raw)
            kind = msg.get("type", "?")
            fleet.by_type[kind] += 1
            fleet.dashboard_messages += 1
            if not timed:
                if kind == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                continue
            if kind in ("nvr_offline", "nvr_online"):
                fleet.saw((msg.get("nvrId"), kind), msg.get("timestamp"))
            elif kind == "camera-status-update":
                camera = msg.get("camera") or {}
                reach = camera.get("reachability")
                if reach:
                    camera_id = msg.get("cameraId") or camera.get("id")
                    fleet.saw((camera_id, reach), msg.get("timestamp"))
            elif kind == "ping":
                await ws.send(json.dumps({"type": "pong"}))


def start_server(
    port: int, data: Path, heartbeat: float, database_url: str | None, profile: str | None
) -> subprocess.Popen[bytes]:
    env = {
        **({"BEHOLDER_DATABASE_URL": database_url} if database_url else {}),
        **os.environ,
        "BEHOLDER_DATA_DIR": str(data),
        "BEHOLDER_ADMIN_PASSWORD": PW,
        "BEHOLDER_PORT": str(port),
        "BEHOLDER_RUN_WORKER": "false",
        "BEHOLDER_LOG_LEVEL": "WARNING",
        "BEHOLDER_RATE_LIMIT_PER_IP": "10000000/minute",
        "BEHOLDER_RATE_LIMIT_PER_PRINCIPAL": "10000000/minute",
        "BEHOLDER_NVR_HEARTBEAT_SECONDS": str(heartbeat),
        "PYTHONPATH": str(ROOT / "src"),
    }
    log = open(data / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
    return subprocess.Popen(
        [
            sys.executable,
            *(["-m", "cProfile", "-o", profile] if profile else []),
            "-m",
            "beholder",
            "serve",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def setup(c: httpx.AsyncClient, agents: int) -> tuple[str, list[tuple[dict[str, Any], str]]]:
    token = (await c.post("/api/auth/login", json={"username": "admin", "password": PW})).json()[
        "accessToken"
    ]
    h = {"Authorization": f"Bearer {token}"}
    sem = asyncio.Semaphore(16)

    async def one(i: int) -> tuple[dict[str, Any], str]:
        async with sem:
            r = await c.post(
                "/api/nvrs",
                json={
                    "hostname": f"nvr-{i:04d}",
                    "deviceName": f"Site {i}",
                    "region": f"region-{i % 8}",
                },
                headers=h,
            )
            r.raise_for_status()
            nvr = r.json()
            k = await c.post(f"/api/nvrs/{nvr['id']}/keys", json={}, headers=h)
            k.raise_for_status()
            return nvr, k.json()["key"]

    return token, list(await asyncio.gather(*(one(i) for i in range(agents))))


async def camera_ids(c: httpx.AsyncClient, token: str, agent: Agent) -> None:
    h = {"Authorization": f"Bearer {token}"}
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        r = await c.get(f"/api/nvrs/{agent.nvr['id']}/cameras", params=params, headers=h)
        r.raise_for_status()
        body = r.json()
        for cam in body["items"]:
            agent.cameras[int(cam["nvrChannel"])] = cam["id"]
        cursor = body.get("nextCursor")
        if not cursor:
            return


async def run(args: argparse.Namespace) -> dict[str, Any]:
    port = _port()
    data = Path(tempfile.mkdtemp(prefix="beholder-nvr-fleet-"))
    database_url = None
    if args.postgres:
        import asyncpg

        name = f"beholder_bench_{os.getpid()}"
        conn = await asyncpg.connect(args.postgres)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        database_url = (
            args.postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            + f"/{name}"
        )
    proc = start_server(port, data, args.heartbeat, database_url, args.profile)
    server = psutil.Process(proc.pid)
    base = f"http://127.0.0.1:{port}"
    fleet = Fleet(base, f"ws://127.0.0.1:{port}/api/nvrs/ws", args.heartbeat)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as c:
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if (await c.get("/api/system/ready")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            t0 = time.perf_counter()
            token, nvrs = await setup(c, args.agents)
            agents = [Agent(fleet, nvr, key, args.channels, i) for i, (nvr, key) in enumerate(nvrs)]
            sem = asyncio.Semaphore(20)

            async def up(a: Agent) -> None:
                async with sem:
                    await a.connect()

            await asyncio.gather(*(up(a) for a in agents))
            for a in agents:
                await camera_ids(c, token, a)
            setup_s = time.perf_counter() - t0
            ready = [asyncio.Event() for _ in range(args.dashboards)]
            dashes = [
                asyncio.create_task(dashboard(fleet, token, r, i == 0)) for i, r in enumerate(ready)
            ]
            await asyncio.gather(*(r.wait() for r in ready))
            beats = [a.beats for a in agents if a.beats is not None]
            await asyncio.sleep(2)  # let registration's own broadcasts drain
            fleet.by_type.clear()
            fleet.dashboard_messages = 0
            server.cpu_percent()
            cpu0 = server.cpu_times()
            w0 = time.perf_counter()
            interval = 1.0 / args.rate
            jobs: set[asyncio.Task[None]] = set()
            n = 0
            while time.perf_counter() - w0 < args.seconds:
                a = random.choice(agents)
                if a.busy or a.ws is None:
                    continue
                if random.random() < args.disconnect_share:
                    job = asyncio.create_task(a.bounce())
                    jobs.add(job)
                    job.add_done_callback(jobs.discard)
                else:
                    await a.flip()
                n += 1
                await asyncio.sleep(max(0.0, w0 + n * interval - time.perf_counter()))
            drive_s = time.perf_counter() - w0
            cpu1 = server.cpu_times()
            await asyncio.gather(*jobs, return_exceptions=True)
            await asyncio.sleep(3)  # late arrivals
            window_s = time.perf_counter() - w0
            for t in beats + dashes:
                t.cancel()
            for a in agents:
                with contextlib.suppress(Exception):
                    await a.ws.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    if args.postgres:
        conn = await asyncpg.connect(args.postgres)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
    cpu_s = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    lat = fleet.latencies
    per_dash = fleet.dashboard_messages / max(1, args.dashboards) / window_s
    return {
        "database": "postgresql" if args.postgres else "sqlite",
        "agents": args.agents,
        "channels": args.channels,
        "cameras": args.agents * args.channels,
        "rate_per_s": args.rate,
        "achieved_rate_per_s": round(n / drive_s, 1),
        "seconds": round(drive_s, 1),
        "setup_s": round(setup_s, 1),
        "server_cpu_percent_of_one_core": round(100 * cpu_s / drive_s, 1),
        "changes_made": fleet.made,
        "changes_seen": fleet.seen,
        "unseen_by_kind": dict(
            collections.Counter(k[1] for k, waits in fleet.pending.items() for _ in waits)
        ),
        "latency_p50_ms": _pct(lat, 0.5),
        "latency_p99_ms": _pct(lat, 0.99),
        "latency_max_ms": round(max(lat), 1) if lat else None,
        "latency_mean_ms": round(statistics.fmean(lat), 1) if lat else None,
        "server_part_p50_ms": _pct(fleet.server_part, 0.5),
        "server_part_p99_ms": _pct(fleet.server_part, 0.99),
        "agent_errors_by_code": dict(fleet.errors),
        "register_retries": fleet.register_retries,
        "hub_messages_per_dashboard_per_s": round(per_dash, 1),
        "hub_messages_per_dashboard_per_s_by_type": {
            k: round(v / max(1, args.dashboards) / window_s, 2)
            for k, v in sorted(fleet.by_type.items())
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=500)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--rate", type=float, default=100.0, help="status changes per second")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--dashboards", type=int, default=5)
    ap.add_argument("--disconnect-share", type=float, default=0.2)
    ap.add_argument("--heartbeat", type=float, default=10.0)
    ap.add_argument(
        "--postgres",
        default=None,
        metavar="ADMIN_URL",
        help="run the server on a fresh PostgreSQL database created through this admin URL "
        "(e.g. postgresql://postgres@127.0.0.1:5432/postgres); default: SQLite",
    )
    ap.add_argument("--profile", default=None, help="cProfile the server into this file")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
