"""Soak harness (issue 13): a real ``beholder serve`` under a steady, realistic load for a
given time, watching its memory and CPU for leaks and its clients for errors.

What runs:

* ``beholder serve`` as a subprocess (own data dir in a temp dir, own process group, its log
  in ``serve.log`` there), on ``127.0.0.1`` only. Inherited ``BEHOLDER_*`` variables are
  dropped for reproducibility; pass settings with ``--server-env KEY=VALUE``.
* the GStreamer RTSP fixture (``tests/fixtures/rtsp_server.py``) serving the three shared
  clips; camera *i* reads clip *i* % 3 (two faces, people walking, street without faces),
  face detection on;
* two dashboard sockets on the hub ``/ws`` (auth, subscribe to cameras/alerts/health, answer
  the server's pings, reconnect with ``lastAlertId`` when closed: access tokens expire, the
  hub then closes with 4401 and that reconnect is expected; any other close is an error);
* a live WHEP viewer (aiortc, in this process) on camera 0: frames are counted, not decoded
  (``--whep-decode`` decodes them); the session is renewed after each token refresh and
  re-established (counted as an error) when it fails or stalls for 15 s;
* a REST client polling ``GET /api/cameras``, ``/api/alerts?limit=20`` and
  ``/api/system/health`` every 2 s; any non-2xx answer or transport error is an error.

What is measured: every ``--sample-seconds`` (15 s) the RSS, CPU (cores), threads and fds of
the server process and of every descendant of it (the detector processes), per process and in
total; the RTSP fixture and this harness apart (they are the camera and the clients, not the
server). Between samples the server's RSS is read ``--rss-hz`` (10) times a second: a
detector process swings by ~15 MB within a second (the working memory of each call, taken
and given back), so one reading every 15 s is mostly noise. Each sample keeps, per process,
the mean and the *floor* (lowest reading since the previous sample); the floor is steady to
~0.3 MB and a leak raises it. The server's RSS below is the sum of the floors.

At the end: the RSS slope (least squares, MB/h, ± two standard errors) of the server's RSS
over the second half of the run (from the end of the warm-up if that is later) and from the
end of the warm-up, per process and per kind of process (recycled detector children summed),
with the slope of the interval means and of single readings for comparison; average CPU;
alerts per camera from ``GET /api/alerts`` (every page, ``nextCursor``) and from each hub
socket (an alert the API lists that a socket never received, or one a socket received that
the API never lists, is an error); hub messages by type; WHEP frames; reconnects (hub
sockets, WHEP, cameras' ``stats.reconnectsLastHour``); errors; each camera's final status;
the server's ERROR log records; how long the server took to exit on SIGTERM and whether it
left processes behind.

Goals (exit status 1 when one fails, or when the run was interrupted): RSS slope of the
second half < 5 MB/h, no error, every camera ``PROCESSING`` at the end. Precision (the
floors vary by ~1 MB from sample to sample): the 60-minute run resolves the slope to about
±1-2 MB/h; a 10-minute quick check only to about ±15-20 MB/h, and a 3-minute one to ±150:
short runs catch a per-frame leak (the one issue 13 is about grew by gigabytes per hour),
not a slow one, and their slope verdict is a coin toss on a clean server; the summary says
so when the ± interval straddles the goal.

Usage::

    .venv/bin/python bench/soak.py --cameras 8 --minutes 60 --warmup-minutes 2 \\
        --json bench/results/soak.json          # the issue's run
    .venv/bin/python bench/soak.py --cameras 3 --minutes 10    # quick check
    .venv/bin/python bench/soak.py --cameras 3 --minutes 3 --token-ttl 60  # exercise expiry

Prints one line per sample and a summary; writes every sample and the summary to ``--json``
(also when interrupted: Ctrl-C or SIGTERM end the run early, then clean up). Every process it
starts is killed on exit. The machine is shared (2 cores): CPU figures are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from fixtures.rtsp_server import MEDIA_DIR, RtspServer, free_port  # noqa: E402

CLIPS = (
    ("faces", MEDIA_DIR / "headpose-two-faces.mp4"),
    ("walking", MEDIA_DIR / "people-walking-one-by-one.mp4"),
    ("street", MEDIA_DIR / "street-cars-no-faces.mp4"),
)
ADMIN_PASSWORD = "soak-admin-password-13"
TOPICS = ["cameras", "alerts", "health"]
MB = 2**20
SLOPE_GOAL_MB_H = 5.0
WHEP_STALL_S = 15.0
HTTP_TIMEOUT = 15.0
MAX_ERRORS_KEPT = 200


def beholder_bin() -> str:
    for cand in (ROOT / ".venv" / "bin" / "beholder", Path(sys.executable).parent / "beholder"):
        if cand.is_file():
            return str(cand)
    raise SystemExit("beholder entry point not found; install the package in .venv")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- shared state ------------------------------------------------------------------------------


class Clock:
    """Seconds since the soak phase started (``start()``); 0 before that."""

    def __init__(self) -> None:
        self.t0: float | None = None

    def start(self) -> None:
        self.t0 = time.monotonic()

    def elapsed(self) -> float:
        return 0.0 if self.t0 is None else time.monotonic() - self.t0


class Errors:
    """Every error seen by any client: counted by kind, the first ones kept in full."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.by_kind: Counter[str] = Counter()
        self.items: list[dict[str, Any]] = []

    def add(self, kind: str, detail: Any) -> None:
        self.by_kind[kind] += 1
        if len(self.items) < MAX_ERRORS_KEPT:
            self.items.append({"t": round(self.clock.elapsed(), 1), "kind": kind, "detail": detail})
        n = self.by_kind[kind]
        if n <= 20 or n % 100 == 0:  # a failure that repeats every 2 s must not flood the log
            print(f"  ! error [{kind}] #{n} {str(detail)[:300]}", flush=True)

    @property
    def count(self) -> int:
        return sum(self.by_kind.values())


class Auth:
    """Access/refresh tokens of the admin; refreshed ahead of expiry (``generation`` bumps)."""

    def __init__(self, client: httpx.AsyncClient, errors: Errors) -> None:
        self.client = client
        self.errors = errors
        self.access = ""
        self.refresh_token = ""
        self.expires = 0.0  # monotonic
        self.margin = 120.0
        self.generation = 0
        self.refreshes = 0
        self.logins = 0
        self._lock = asyncio.Lock()

    def _set(self, body: dict[str, Any]) -> None:
        ttl = float(body["expiresIn"])
        self.access = str(body["accessToken"])
        self.refresh_token = str(body["refreshToken"])
        self.expires = time.monotonic() + ttl
        self.margin = min(120.0, ttl / 4)
        self.generation += 1

    async def login(self) -> None:
        r = await self.client.post(
            "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        r.raise_for_status()
        self.logins += 1
        self._set(r.json())

    async def token(self) -> str:
        async with self._lock:
            if time.monotonic() >= self.expires - self.margin:
                try:
                    r = await self.client.post(
                        "/api/auth/refresh", json={"refreshToken": self.refresh_token}
                    )
                    r.raise_for_status()
                    self._set(r.json())
                    self.refreshes += 1
                except httpx.HTTPError as exc:
                    self.errors.add("auth", f"refresh failed: {describe(exc)}")
                    await self.login()
            return self.access

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token()}"}


def describe(exc: BaseException) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"{exc.response.status_code} {exc.response.text[:300]}"
    return f"{type(exc).__name__}: {exc}"[:300]


# --- dashboard sockets -------------------------------------------------------------------------


class HubClient:
    """One dashboard socket; reconnects for ever (with ``lastAlertId``) until cancelled."""

    def __init__(self, idx: int, port: int, auth: Auth, errors: Errors) -> None:
        self.idx = idx
        self.url = f"ws://127.0.0.1:{port}/ws"
        self.auth = auth
        self.errors = errors
        self.types: Counter[str] = Counter()
        self.alerts: dict[str, set[str]] = defaultdict(set)
        self.duplicate_alerts = 0
        self.connects = 0
        self.reconnects: Counter[str] = Counter()  # by reason
        self.close_codes: Counter[str] = Counter()
        self.last_alert_id: str | None = None
        self.expires_at: float | None = None
        self.subscribed = asyncio.Event()

    @property
    def messages(self) -> int:
        return sum(self.types.values())

    def _expiring(self) -> bool:
        return self.expires_at is not None and time.time() >= self.expires_at - 5

    async def run(self) -> None:
        while True:
            reason = await self._session()
            self.reconnects[reason] += 1
            await asyncio.sleep(0.5 if reason == "token-expired" else 2.0)

    async def _session(self) -> str:
        """One connection; returns why it ended."""
        self.expires_at = None
        try:
            token = await self.auth.token()
            async with websockets.connect(
                self.url, open_timeout=10, close_timeout=3, max_size=2**23
            ) as ws:
                hello: dict[str, Any] = {"type": "auth", "token": token}
                if self.last_alert_id:
                    hello["lastAlertId"] = self.last_alert_id
                await ws.send(json.dumps(hello))
                first = json.loads(await asyncio.wait_for(ws.recv(), 10))
                self.types[str(first.get("type"))] += 1
                if first.get("type") != "auth-ok":
                    self.errors.add(f"hub{self.idx}", f"auth refused: {first}")
                    return "auth-refused"
                self.connects += 1
                exp = first.get("expiresAt")
                self.expires_at = float(exp) if exp is not None else None
                await ws.send(json.dumps({"type": "subscribe", "topics": TOPICS}))
                try:
                    async for raw in ws:
                        await self._handle(ws, json.loads(raw))
                except ConnectionClosed:
                    pass
                code, why = ws.close_code, ws.close_reason
        except (OSError, TimeoutError, websockets.WebSocketException, ValueError) as exc:
            self.errors.add(f"hub{self.idx}", f"connect/receive failed: {describe(exc)}")
            return "failure"
        except Exception as exc:  # a harness bug must not end the socket's loop silently
            self.errors.add(f"hub{self.idx}", f"unexpected: {describe(exc)}")
            return "failure"
        self.close_codes[str(code)] += 1
        if code == 4401 and self._expiring():
            return "token-expired"
        self.errors.add(f"hub{self.idx}", f"closed by server: code {code} {why!r}")
        return f"closed-{code}"

    async def _handle(self, ws: Any, msg: dict[str, Any]) -> None:
        kind = str(msg.get("type"))
        self.types[kind] += 1
        if kind == "ping":
            await ws.send('{"type":"pong"}')
        elif kind == "subscribed":
            self.subscribed.set()
        elif kind == "face-detection-alert":
            aid, cid = str(msg.get("id")), str(msg.get("cameraId"))
            if aid in self.alerts[cid]:
                self.duplicate_alerts += 1
            self.alerts[cid].add(aid)
            self.last_alert_id = aid
        elif kind == "error":
            if msg.get("code") == "UNAUTHORIZED" and self._expiring():
                return  # the expiry notice before the 4401 close
            self.errors.add(f"hub{self.idx}", f"error message: {msg}")


# --- live viewer -------------------------------------------------------------------------------


class CountingDecoder:
    """Stands in for aiortc's H.264 decoder: counts complete (depacketized) frames."""

    frames = 0

    def decode(self, encoded_frame: Any) -> list[Any]:
        CountingDecoder.frames += 1
        return []


def counting_decoder(codec: Any) -> Any:
    """Replaces ``aiortc.rtcrtpreceiver.get_decoder`` in this process (frames not decoded)."""
    return CountingDecoder()


class WhepViewer:
    """An aiortc WHEP client on one camera, re-established when it fails or stalls."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        auth: Auth,
        errors: Errors,
        camera_id: str,
        decode: bool,
    ) -> None:
        self.client = client
        self.auth = auth
        self.errors = errors
        self.camera_id = camera_id
        self.decode = decode
        self.decoded = 0
        self.sessions = 0
        self.renewals = 0
        self.reconnects = 0
        if not decode:
            import aiortc.rtcrtpreceiver as rx

            rx.get_decoder = counting_decoder  # type: ignore[attr-defined]

    @property
    def frames(self) -> int:
        return self.decoded if self.decode else CountingDecoder.frames

    async def run(self) -> None:
        failures = 0
        while True:
            frames = self.frames
            try:
                await self._session()
            except httpx.HTTPError as exc:
                self.errors.add("whep", describe(exc))
            except WhepFailure as exc:
                self.errors.add("whep", str(exc))
            except Exception as exc:  # aiortc or an unexpected answer: retry, never die
                self.errors.add("whep", f"unexpected: {describe(exc)}")
            self.reconnects += 1
            failures = 0 if self.frames > frames else failures + 1
            await asyncio.sleep(min(2.0 * (failures + 1), 10.0))

    async def _session(self) -> None:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        from beholder.worker.egress import ice

        pc = RTCPeerConnection()
        location: str | None = None
        consumer: asyncio.Task[None] | None = None
        try:
            pc.addTransceiver("video", direction="recvonly")
            if self.decode:

                @pc.on("track")
                def on_track(track: Any) -> None:
                    nonlocal consumer

                    async def consume() -> None:
                        while True:
                            await track.recv()
                            self.decoded += 1

                    consumer = asyncio.ensure_future(consume())

            with ice.host_addresses(["127.0.0.1"]):
                await pc.setLocalDescription(await pc.createOffer())
            gen = self.auth.generation
            r = await self.client.post(
                f"/api/cameras/{self.camera_id}/whep",
                content=pc.localDescription.sdp,
                headers={"Content-Type": "application/sdp", **await self.auth.headers()},
                timeout=30,
            )
            if r.status_code != 201:
                raise WhepFailure(f"POST {r.status_code}: {r.text[:300]}")
            location = r.headers["location"]
            self.sessions += 1
            await pc.setRemoteDescription(RTCSessionDescription(r.text, "answer"))
            last, progress = self.frames, time.monotonic()
            while True:
                await asyncio.sleep(2.0)
                if pc.connectionState in ("failed", "closed"):
                    raise WhepFailure(f"peer connection {pc.connectionState}")
                now = time.monotonic()
                if self.frames > last:
                    last, progress = self.frames, now
                elif now - progress > WHEP_STALL_S:
                    raise WhepFailure(f"no frame for {WHEP_STALL_S:.0f} s")
                headers = await self.auth.headers()
                if self.auth.generation != gen:
                    rr = await self.client.post(location + "/renew", headers=headers)
                    if rr.status_code != 200:
                        raise WhepFailure(f"renew {rr.status_code}: {rr.text[:300]}")
                    gen = self.auth.generation
                    self.renewals += 1
        finally:
            if consumer is not None:
                consumer.cancel()
            if location is not None:
                with contextlib.suppress(Exception):
                    rd = await self.client.delete(
                        location, headers=await self.auth.headers(), timeout=5
                    )
                    if rd.status_code >= 300:
                        self.errors.add("whep", f"DELETE {rd.status_code}: {rd.text[:200]}")
            await pc.close()


class WhepFailure(Exception):
    pass


# --- REST poller -------------------------------------------------------------------------------


class RestPoller:
    """GETs the cameras, the latest alerts and health every ``interval`` seconds."""

    PATHS: tuple[tuple[str, dict[str, Any] | None], ...] = (
        ("/api/cameras", None),
        ("/api/alerts", {"limit": 20}),
        ("/api/system/health", None),
    )

    def __init__(
        self, client: httpx.AsyncClient, auth: Auth, errors: Errors, interval: float
    ) -> None:
        self.client = client
        self.auth = auth
        self.errors = errors
        self.interval = interval
        self.requests: Counter[str] = Counter()
        self.latency_ms: dict[str, list[float]] = defaultdict(list)
        self.health: Counter[str] = Counter()
        self.not_processing: Counter[str] = Counter()  # camera id -> polls seen not PROCESSING
        self.statuses: dict[str, str] = {}
        self.max_reconnects: dict[str, int] = {}

    async def run(self) -> None:
        next_t = time.monotonic()
        while True:
            for path, params in self.PATHS:
                await self._get(path, params)
            next_t += self.interval
            await asyncio.sleep(max(0.0, next_t - time.monotonic()))

    async def _get(self, path: str, params: dict[str, Any] | None) -> None:
        t = time.monotonic()
        try:
            r = await self.client.get(path, params=params, headers=await self.auth.headers())
        except httpx.HTTPError as exc:
            self.errors.add("rest", f"GET {path}: {describe(exc)}")
            return
        self.requests[path] += 1
        self.latency_ms[path].append((time.monotonic() - t) * 1000)
        if not 200 <= r.status_code < 300:
            self.errors.add("rest", {"path": path, "status": r.status_code, "body": r.text[:300]})
            return
        try:
            body = r.json()
            if path == "/api/cameras":
                self.observe(body["items"])
            elif path == "/api/system/health":
                self.health[str(body.get("overall", body.get("status")))] += 1
        except (ValueError, KeyError, TypeError) as exc:
            self.errors.add(
                "rest", f"GET {path}: unexpected body ({describe(exc)}): {r.text[:200]}"
            )

    def observe(self, items: list[dict[str, Any]]) -> None:
        for cam in items:
            cid = str(cam["id"])
            self.statuses[cid] = cam["status"]
            if cam["status"] != "PROCESSING":
                self.not_processing[cid] += 1
            rec = (cam.get("stats") or {}).get("reconnectsLastHour")
            if isinstance(rec, int):
                self.max_reconnects[cid] = max(rec, self.max_reconnects.get(cid, 0))


# --- server process and sampling ---------------------------------------------------------------


class Serve:
    """``beholder serve`` in its own session (process group); log in ``<tmp>/serve.log``."""

    def __init__(self, tmp: Path, port: int, extra_env: dict[str, str]) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = tmp / "serve.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
        env |= {
            "BEHOLDER_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "BEHOLDER_CAMERA_NETWORKS": "0.0.0.0/0,::/0",
            "BEHOLDER_WEBRTC_HOSTS": "127.0.0.1",
            "BEHOLDER_LOG_FORMAT": "json",
            **extra_env,
        }
        cmd = [beholder_bin(), "serve", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--data-dir", str(tmp / "data")]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                env=env,
                cwd=tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid = self.proc.pid
        self.seen: dict[int, float] = {}  # descendants seen by the sampler: pid -> create time
        self.shutdown: dict[str, Any] | None = None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _descendants(self) -> list[psutil.Process]:
        """Server descendants seen by the sampler that still run (not zombies)."""
        out = []
        for pid, created in self.seen.items():
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(pid)
                if abs(p.create_time() - created) < 0.01 and p.status() != psutil.STATUS_ZOMBIE:
                    out.append(p)
        return out

    def stop(self, grace: float = 20.0) -> dict[str, Any]:
        """SIGTERM, wait ``grace`` s, then SIGKILL the group; kill leftover descendants."""
        if self.shutdown is not None:
            return self.shutdown
        out: dict[str, Any] = {"alreadyExited": not self.alive(), "killed": False}
        t = time.monotonic()
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                out["killed"] = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        out["exitCode"] = self.proc.returncode
        out["shutdownSeconds"] = round(time.monotonic() - t, 2)
        # Children (the detectors, multiprocessing's resource tracker) get 5 s to follow.
        deadline = time.monotonic() + 5
        while (left := self._descendants()) and time.monotonic() < deadline:
            time.sleep(0.2)
        out["childrenGoneSeconds"] = None if left else round(time.monotonic() - t, 2)
        leftovers = []
        for p in left:
            with contextlib.suppress(psutil.Error):
                leftovers.append({"pid": p.pid, "cmd": " ".join(p.cmdline())[:200]})
                p.kill()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # anything else left in the server's group
        out["leftoverProcesses"] = leftovers
        self.shutdown = out
        return out


def role_of(p: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        cmd = " ".join(p.cmdline())
        if "resource_tracker" in cmd:
            return "mp-tracker"
        if "spawn_main" in cmd or "forkserver" in cmd:
            return "detector"
        return str(p.name())
    return "?"


class Sampler:
    """RSS / CPU / threads / fds of process trees, CPU from cpu-time deltas between samples.

    Between samples, :meth:`tick` reads the RSS of the server's processes (10 times a second
    by default); each sample carries, per process, the mean and the minimum ("floor") of those
    readings since the previous sample, and for the total the mean, the min, the max and the
    sum of the floors. A detector's RSS swings by ~15 MB within a second (the working memory
    of a call, allocated and freed), so a single reading, and even a mean, is noisy; the floor
    of each process is steady to ~0.3 MB, and a leak raises it."""

    def __init__(self, serve: Serve, rtsp_pid: int | None) -> None:
        self.serve = serve
        self.rtsp_pid = rtsp_pid
        self.prev: dict[tuple[int, float], float] = {}
        self.prev_wall: float | None = None
        self.cpu_seconds: dict[str, float] = defaultdict(float)  # group -> since first sample
        self.first_wall: float | None = None
        self.last_wall: float | None = None
        self.labels: dict[tuple[int, float], str] = {}
        self.sub_total: list[float] = []
        self.sub_proc: dict[str, list[float]] = defaultdict(list)
        self._cached: list[tuple[psutil.Process, str]] = []
        self._cached_at = -1e9

    @staticmethod
    def tree(pid: int | None) -> list[psutil.Process]:
        if pid is None:
            return []
        try:
            root = psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def label(self, p: psutil.Process, created: float, main: str | None) -> str:
        key = (p.pid, created)
        if key not in self.labels:
            self.labels[key] = main if main is not None else f"{role_of(p)}:{p.pid}"
        return self.labels[key]

    def tick(self) -> None:
        """One RSS reading of every server process (the process list is refreshed each s)."""
        if time.monotonic() - self._cached_at >= 1.0:
            self._cached = []
            for i, p in enumerate(self.tree(self.serve.pid)):
                with contextlib.suppress(psutil.Error):
                    created = p.create_time()
                    self._cached.append((p, self.label(p, created, "serve" if i == 0 else None)))
            self._cached_at = time.monotonic()
        total = 0.0
        n = 0
        for p, label in self._cached:
            try:
                rss = p.memory_info().rss / MB
            except psutil.Error:
                continue
            total += rss
            n += 1
            self.sub_proc[label].append(rss)
        if n:
            self.sub_total.append(total)

    def group(
        self, name: str, procs: list[psutil.Process], wall: float, main: str
    ) -> dict[str, Any]:
        rows = []
        for i, p in enumerate(procs):
            try:
                with p.oneshot():
                    created = p.create_time()
                    t = p.cpu_times()
                    cpu = t.user + t.system
                    rss = p.memory_info().rss
                    threads = p.num_threads()
                    fds = p.num_fds()
            except psutil.Error:
                continue
            key = (p.pid, created)
            if key in self.prev and self.prev_wall is not None:
                delta: float | None = cpu - self.prev[key]
                cores = (delta or 0.0) / max(1e-6, wall - self.prev_wall)
            else:
                delta = cpu if self.prev_wall is not None else None
                cores = cpu / max(1e-6, wall - created)
            self.prev[key] = cpu
            if delta is not None:
                self.cpu_seconds[name] += delta
            label = self.label(p, created, main if i == 0 else None)
            if name == "server" and i > 0:
                self.serve.seen[p.pid] = created
            row = {
                "label": label,
                "pid": p.pid,
                "rssMB": round(rss / MB, 2),
                "cpuCores": round(cores, 3),
                "threads": threads,
                "fds": fds,
            }
            if name == "server":
                sub = self.sub_proc.get(label) or [rss / MB]
                row["rssMeanMB"] = round(sum(sub) / len(sub), 2)
                row["rssFloorMB"] = round(min(sub), 2)
            rows.append(row)
        out: dict[str, Any] = {
            "rssMB": round(sum(r["rssMB"] for r in rows), 2),
            "cpuCores": round(sum(r["cpuCores"] for r in rows), 3),
        }
        if name == "server":
            sub = self.sub_total or [out["rssMB"]]
            out |= {
                "rssFloorMB": round(sum(r["rssFloorMB"] for r in rows), 2),
                "rssMeanMB": round(sum(sub) / len(sub), 2),
                "rssMinMB": round(min(sub), 2),
                "rssMaxMB": round(max(sub), 2),
                "rssReadings": len(sub),
            }
        out["procs"] = rows
        return out

    def sample(self) -> dict[str, Any]:
        self.tick()
        wall = time.time()
        me = psutil.Process()
        out = {
            "server": self.group("server", self.tree(self.serve.pid), wall, "serve"),
            "rtsp": self.group("rtsp", self.tree(self.rtsp_pid), wall, "rtsp"),
            "harness": self.group("harness", [me], wall, "harness"),
        }
        self.sub_total = []
        self.sub_proc = defaultdict(list)
        if self.first_wall is None:
            self.first_wall = wall
        self.last_wall = wall
        self.prev_wall = wall
        return out

    def average_cores(self, name: str) -> float | None:
        if self.first_wall is None or self.last_wall is None or self.last_wall <= self.first_wall:
            return None
        return round(self.cpu_seconds[name] / (self.last_wall - self.first_wall), 3)


# --- figures -------------------------------------------------------------------------------


def fit(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """Least-squares slope of ``(seconds, MB)`` points and its standard error, both in MB/h
    (None below 3 points)."""
    n = len(points)
    if n < 3:
        return None
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    if sxx == 0:
        return None
    b = sum((t - mx) * (v - my) for t, v in points) / sxx
    ssr = sum((v - my - b * (t - mx)) ** 2 for t, v in points)
    se = (ssr / (n - 2) / sxx) ** 0.5
    return b * 3600, se * 3600


def slope_mb_per_h(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of ``(seconds, MB)`` points, in MB/h (None below 3 points)."""
    f = fit(points)
    return None if f is None else round(f[0], 2)


def slopes(samples: list[dict[str, Any]], since: float) -> dict[str, Any]:
    """Slopes over the samples from ``since`` s: the server total (sum of the per-process
    floors: the goal; also the interval means and single readings), per process, per kind of
    process (a recycled detector's successors summed), and the RTSP fixture and this harness
    for reference."""
    window = [s for s in samples if s["t"] >= since]
    per: dict[str, list[tuple[float, float]]] = defaultdict(list)
    per_role: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for s in window:
        roles: dict[str, float] = defaultdict(float)
        for p in s["server"]["procs"]:
            mb = p.get("rssFloorMB", p["rssMB"])
            per[p["label"]].append((s["t"], mb))
            roles[p["label"].split(":")[0]] += mb
        for role, mb in roles.items():
            per_role[role].append((s["t"], mb))

    def total(key: str) -> list[tuple[float, float]]:
        return [(s["t"], s["server"].get(key, s["server"]["rssMB"])) for s in window]

    main = fit(total("rssFloorMB"))
    return {
        "fromSeconds": round(since, 1),
        "samples": len(window),
        "serverTotalMBPerHour": None if main is None else round(main[0], 2),
        # ±2 standard errors (white-noise assumption, so rather optimistic)
        "serverTotalPlusMinusMBPerHour": None if main is None else round(2 * main[1], 2),
        "serverTotalMeanMBPerHour": slope_mb_per_h(total("rssMeanMB")),
        "serverTotalSingleReadingMBPerHour": slope_mb_per_h(total("rssMB")),
        "perRoleMBPerHour": {k: slope_mb_per_h(v) for k, v in sorted(per_role.items())},
        "perProcessMBPerHour": {k: slope_mb_per_h(v) for k, v in sorted(per.items())},
        "rtspMBPerHour": slope_mb_per_h([(s["t"], s["rtsp"]["rssMB"]) for s in window]),
        "harnessMBPerHour": slope_mb_per_h([(s["t"], s["harness"]["rssMB"]) for s in window]),
    }


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, round(q * (len(s) - 1)))], 1)


def _log_records(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not path.is_file():
        return out
    with open(path, errors="replace") as f:
        for line in f:
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError
            except ValueError:
                rec = {"event": line.rstrip("\n"), "level": "raw"}
            out.append(rec)
    return out


def _short(rec: dict[str, Any], width: int = 2000) -> str:
    """A log record as one string; long texts (tracebacks) keep their end."""
    text = str(rec.get("event", rec.get("message", "")))
    extra = {k: v for k, v in rec.items() if k not in ("event", "message", "timestamp")}
    exc = extra.pop("exception", None)
    s = f"{text} {json.dumps(extra, default=str)}" + (f"\n{exc}" if exc else "")
    return s if len(s) <= width else "…" + s[-width:]


def log_errors(path: Path, limit: int = 20) -> dict[str, Any]:
    """ERROR/CRITICAL records (and stray tracebacks) of the server's JSON log."""
    count = 0
    first: list[str] = []
    events: Counter[str] = Counter()
    for rec in _log_records(path):
        level = str(rec.get("level", rec.get("levelname", ""))).lower()
        event = str(rec.get("event", rec.get("message", "")))
        if level in ("error", "critical", "exception") or (
            level == "raw" and ("Traceback" in event or "ERROR" in event)
        ):
            count += 1
            events[event.splitlines()[0][:120] if event else "?"] += 1
            if len(first) < limit:
                first.append(_short(rec))
    return {"count": count, "events": dict(events.most_common(20)), "first": first}


def log_tail(path: Path, lines: int = 25) -> str:
    """The last records of the server's log (for a server that died)."""
    return "\n".join(_short(r, 3000) for r in _log_records(path)[-lines:])


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Soak:
    args: argparse.Namespace
    serve: Serve
    rtsp: RtspServer
    clock: Clock = field(default_factory=Clock)
    samples: list[dict[str, Any]] = field(default_factory=list)
    cameras: dict[str, str] = field(default_factory=dict)  # id -> name
    interrupted: bool = False
    ended: float = 0.0  # clock reading when the load stopped

    async def run(self) -> dict[str, Any]:
        args = self.args
        errors = Errors(self.clock)
        tasks: list[asyncio.Task[None]] = []
        hubs: list[HubClient] = []
        whep: WhepViewer | None = None
        poller: RestPoller | None = None
        sampler = Sampler(self.serve, self.rtsp.pid)
        client = httpx.AsyncClient(base_url=self.serve.base, timeout=HTTP_TIMEOUT)
        auth = Auth(client, errors)
        setup: dict[str, Any] = {}
        try:
            t = time.monotonic()
            await self._wait_ready(client)
            setup["readySeconds"] = round(time.monotonic() - t, 2)
            await auth.login()
            hubs = [HubClient(i, self.serve.port, auth, errors) for i in range(2)]
            tasks += [asyncio.create_task(h.run(), name=f"hub{h.idx}") for h in hubs]
            for h in hubs:
                await asyncio.wait_for(h.subscribed.wait(), 20)
            t = time.monotonic()
            for i in range(args.cameras):
                mount = CLIPS[i % len(CLIPS)][0]
                name = f"soak-{i:02d}-{mount}"
                r = await client.post(
                    "/api/cameras",
                    json={
                        "name": name,
                        "rtspUrl": self.rtsp.url(mount),
                        "faceDetectionEnabled": True,
                    },
                    headers=await auth.headers(),
                )
                r.raise_for_status()
                cid = str(r.json()["id"])
                self.cameras[cid] = name
                r = await client.post(f"/api/cameras/{cid}/start", headers=await auth.headers())
                r.raise_for_status()
            setup["allProcessingSeconds"] = await self._wait_processing(client, auth, errors)
            setup["startSeconds"] = round(time.monotonic() - t, 2)
            poller = RestPoller(client, auth, errors, args.poll_seconds)
            whep = WhepViewer(client, auth, errors, next(iter(self.cameras)), args.whep_decode)
            tasks += [
                asyncio.create_task(poller.run(), name="rest"),
                asyncio.create_task(whep.run(), name="whep"),
            ]
            self.clock.start()
            await self._sample_loop(sampler, errors, hubs, whep)
        except asyncio.CancelledError:
            self.interrupted = True
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            print("interrupted: cleaning up and summarizing what was measured", flush=True)
        except (httpx.HTTPError, TimeoutError, RuntimeError, KeyError) as exc:
            errors.add("setup", describe(exc))
        # Wind down: viewer and poller first, then compare alerts while the sockets listen.
        final: dict[str, Any] = {}
        self.ended = self.clock.elapsed()
        try:
            for task in tasks:
                if task.get_name() in ("rest", "whep"):
                    task.cancel()
            await asyncio.gather(*tasks[len(hubs) :], return_exceptions=True)
            stale = self.clock.elapsed() - self.samples[-1]["t"] if self.samples else 0.0
            if self.serve.alive() and stale > self.args.sample_seconds / 2:
                self._record(sampler.sample(), errors, hubs, whep)
            if self.serve.alive():
                async with asyncio.timeout(120):
                    final = await self._final(client, auth)
                    await asyncio.sleep(2.0)  # the sockets receive what was broadcast meanwhile
                    for task in tasks[: len(hubs)]:
                        task.cancel()
                    await asyncio.gather(*tasks[: len(hubs)], return_exceptions=True)
                    # Read again: every alert a socket received must have been persisted.
                    final["restAlertsAfter"], _ = await self._rest_alerts(client, auth)
        except (httpx.HTTPError, KeyError, ValueError, TimeoutError) as exc:
            errors.add("final", describe(exc))
        except asyncio.CancelledError:
            self.interrupted = True
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await client.aclose()
        if not self.serve.alive():
            print(f"server log tail:\n{log_tail(self.serve.log_path)}", file=sys.stderr)
        shutdown = await asyncio.to_thread(self.serve.stop)
        if shutdown["killed"]:
            errors.add("shutdown", "the server did not exit within 20 s of SIGTERM")
        if shutdown["leftoverProcesses"]:
            errors.add(
                "shutdown", f"processes left 5 s after exit: {shutdown['leftoverProcesses']}"
            )
        return self._summary(setup, final, errors, hubs, whep, poller, sampler, auth, shutdown)

    async def _wait_ready(self, client: httpx.AsyncClient) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not self.serve.alive():
                raise RuntimeError(f"beholder serve exited (code {self.serve.proc.returncode})")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/api/system/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.25)
        raise TimeoutError("beholder serve not ready within 60 s")

    async def _statuses(self, client: httpx.AsyncClient, auth: Auth) -> list[dict[str, Any]]:
        r = await client.get("/api/cameras", headers=await auth.headers())
        r.raise_for_status()
        return list(r.json()["items"])

    async def _wait_processing(self, client: httpx.AsyncClient, auth: Auth, errors: Errors) -> Any:
        t0 = time.monotonic()
        timeout = self.args.start_timeout or 60 + 10 * self.args.cameras
        items: list[dict[str, Any]] = []
        while time.monotonic() - t0 < timeout:
            items = await self._statuses(client, auth)
            if all(c["status"] == "PROCESSING" for c in items if c["id"] in self.cameras):
                return round(time.monotonic() - t0, 2)
            await asyncio.sleep(1.0)
        late = {c["name"]: c["status"] for c in items if c["status"] != "PROCESSING"}
        errors.add("start", f"not PROCESSING after {timeout:.0f} s: {late}")
        return None

    async def _sample_loop(
        self, sampler: Sampler, errors: Errors, hubs: list[HubClient], whep: WhepViewer
    ) -> None:
        duration = self.args.minutes * 60
        k = 0
        while True:
            target = k * self.args.sample_seconds
            every = 1.0 / self.args.rss_hz
            while self.clock.elapsed() + every < target:
                await asyncio.sleep(every)
                sampler.tick()
            await asyncio.sleep(max(0.0, target - self.clock.elapsed()))
            if not self.serve.alive():
                errors.add("server", f"beholder serve exited (code {self.serve.proc.returncode})")
                return
            self._record(sampler.sample(), errors, hubs, whep)
            k += 1
            if target >= duration:
                return

    def _record(
        self,
        s: dict[str, Any],
        errors: Errors,
        hubs: list[HubClient],
        whep: WhepViewer | None,
    ) -> None:
        s = {"t": round(self.clock.elapsed(), 1), "wall": now_iso(), **s}
        s["hubMessages"] = [h.messages for h in hubs]
        s["hubAlerts"] = [sum(len(v) for v in h.alerts.values()) for h in hubs]
        s["whepFrames"] = whep.frames if whep else 0
        s["errors"] = errors.count
        self.samples.append(s)
        srv = s["server"]
        main = srv["procs"][0] if srv["procs"] else {"rssMB": 0, "cpuCores": 0, "fds": 0}
        kids = " ".join(
            f"{p['label']} {p.get('rssFloorMB', p['rssMB']):.1f}/{p['cpuCores']:.2f}"
            for p in srv["procs"][1:]
        )
        print(
            f"t={s['t']:7.1f}s server floor {srv.get('rssFloorMB', srv['rssMB']):6.1f} MB"
            f" (mean {srv.get('rssMeanMB', 0):.0f}, {srv.get('rssMinMB', 0):.0f}"
            f"-{srv.get('rssMaxMB', 0):.0f}) {srv['cpuCores']:4.2f} cores"
            f" | serve {main.get('rssFloorMB', main['rssMB']):.1f}/{main['cpuCores']:.2f}"
            f" fds {main['fds']} | {kids}"
            f" | rtsp {s['rtsp']['rssMB']:.0f}/{s['rtsp']['cpuCores']:.2f}"
            f" | hub {'/'.join(map(str, s['hubMessages']))} alerts"
            f" {'/'.join(map(str, s['hubAlerts']))} | whep {s['whepFrames']} | err {s['errors']}",
            flush=True,
        )

    async def _final(self, client: httpx.AsyncClient, auth: Auth) -> dict[str, Any]:
        items = await self._statuses(client, auth)
        cams = {}
        for c in items:
            if c["id"] in self.cameras:
                st = c.get("stats") or {}
                cams[c["id"]] = {
                    "name": c["name"],
                    "status": c["status"],
                    "errorCode": c.get("errorCode"),
                    "statusDetail": c.get("statusDetail"),
                    **{
                        k: st.get(k)
                        for k in (
                            "reconnectsLastHour",
                            "stallsLastHour",
                            "droppedSamples",
                            "inputFps",
                            "detectionFps",
                            "detectorMsP50",
                        )
                    },
                }
        alerts, other_types = await self._rest_alerts(client, auth)
        stats: dict[str, Any] = {}
        r = await client.get("/api/system/stats", headers=await auth.headers())
        if r.status_code == 200:
            stats = r.json().get("totals", {})
        return {
            "cameras": cams,
            "restAlerts": alerts,
            "otherAlertTypes": other_types,
            "stats": stats,
        }

    async def _rest_alerts(
        self, client: httpx.AsyncClient, auth: Auth
    ) -> tuple[dict[str, set[str]], Counter[str]]:
        """Face-detection alert ids per camera from ``GET /api/alerts`` (every page), and
        the count of alerts of other types."""
        alerts: dict[str, set[str]] = defaultdict(set)
        other_types: Counter[str] = Counter()
        cursor: str | None = None
        for _ in range(2000):
            params: dict[str, Any] = {"limit": 200}
            if cursor:
                params["cursor"] = cursor
            r = await client.get("/api/alerts", params=params, headers=await auth.headers())
            r.raise_for_status()
            page = r.json()
            for a in page["items"]:
                if a.get("type") == "face-detection":
                    alerts[str(a.get("cameraId"))].add(str(a["id"]))
                else:
                    other_types[str(a.get("type"))] += 1
            cursor = page.get("nextCursor")
            if not cursor:
                break
        return alerts, other_types

    def _summary(
        self,
        setup: dict[str, Any],
        final: dict[str, Any],
        errors: Errors,
        hubs: list[HubClient],
        whep: WhepViewer | None,
        poller: RestPoller | None,
        sampler: Sampler,
        auth: Auth,
        shutdown: dict[str, Any],
    ) -> dict[str, Any]:
        duration = self.samples[-1]["t"] if self.samples else 0.0
        warmup = self.args.warmup_minutes * 60
        second_half = slopes(self.samples, max(warmup, duration / 2))
        after_warmup = slopes(self.samples, warmup)
        rest_alerts: dict[str, set[str]] = final.get("restAlerts", {})
        rest_after: dict[str, set[str]] | None = final.get("restAlertsAfter")
        per_camera: dict[str, Any] = {}
        for cid, name in self.cameras.items():
            rest = rest_alerts.get(cid, set())
            row: dict[str, Any] = {"rest": len(rest)}
            for h in hubs:
                got = h.alerts.get(cid, set())
                row[f"hub{h.idx}"] = len(got)
                missed = rest - got
                if final and missed:
                    errors.add(f"hub{h.idx}", f"{name}: {len(missed)} alert(s) never delivered")
                if rest_after is not None:
                    ghosts = got - rest_after.get(cid, set())
                    if ghosts:
                        errors.add(
                            f"hub{h.idx}", f"{name}: {len(ghosts)} alert(s) not in /api/alerts"
                        )
            if rest_after is not None:
                row["restAtEnd"] = len(rest_after.get(cid, set()))
            per_camera[name] = row
        cams_final = final.get("cameras", {})
        not_processing = {
            self.cameras[cid]: c["status"]
            for cid, c in cams_final.items()
            if c["status"] != "PROCESSING"
        }
        missing = [n for cid, n in self.cameras.items() if cid not in cams_final]
        if missing and final:
            not_processing |= dict.fromkeys(missing, "MISSING")
        if not final and self.cameras:
            not_processing = dict.fromkeys(self.cameras.values(), "UNKNOWN")
        hub_types: Counter[str] = Counter()
        for h in hubs:
            hub_types.update(h.types)
        lat = poller.latency_ms if poller else {}
        slope = second_half["serverTotalMBPerHour"]
        goals = {
            "slopeBelow5MBPerHour": slope is not None and slope < SLOPE_GOAL_MB_H,
            "noErrors": errors.count == 0,
            "allProcessing": bool(self.cameras) and not not_processing,
        }
        floors = [s["server"].get("rssFloorMB", s["server"]["rssMB"]) for s in self.samples]
        first = floors[0] if floors else None
        last = floors[-1] if floors else None
        return {
            "config": {
                "cameras": self.args.cameras,
                "minutes": self.args.minutes,
                "warmupMinutes": self.args.warmup_minutes,
                "sampleSeconds": self.args.sample_seconds,
                "pollSeconds": self.args.poll_seconds,
                "serverEnv": self.args.server_env,
                "tokenTtl": self.args.token_ttl,
                "cores": os.cpu_count(),
                "loadAvgEnd": [round(x, 2) for x in os.getloadavg()],
            },
            "interrupted": self.interrupted,
            "setup": setup,
            "durationSeconds": duration,
            "serverRssMB": {
                "first": first,
                "last": last,
                "max": max(
                    (s["server"].get("rssMaxMB", s["server"]["rssMB"]) for s in self.samples),
                    default=None,
                ),
            },
            "slopeSecondHalf": second_half,
            "slopeAfterWarmup": after_warmup,
            "cpuCoresAverage": {
                "server": sampler.average_cores("server"),
                "rtsp": sampler.average_cores("rtsp"),
                "harness": sampler.average_cores("harness"),
            },
            "alertsPerCamera": per_camera,
            "otherAlertTypes": dict(final.get("otherAlertTypes", {})),
            "hubMessagesByType": dict(sorted(hub_types.items())),
            "hubSockets": [
                {
                    "connects": h.connects,
                    "reconnects": dict(h.reconnects),
                    "closeCodes": dict(h.close_codes),
                    "duplicateAlerts": h.duplicate_alerts,
                    "messages": h.messages,
                }
                for h in hubs
            ],
            "whep": {
                "camera": self.cameras.get(whep.camera_id) if whep else None,
                "frames": whep.frames if whep else 0,
                "fps": round(whep.frames / self.ended, 2) if whep and self.ended else None,
                "sessions": whep.sessions if whep else 0,
                "renewals": whep.renewals if whep else 0,
                "reconnects": whep.reconnects if whep else 0,
            },
            "cameraReconnects": {
                self.cameras[cid]: {
                    "reconnectsLastHourFinal": c["reconnectsLastHour"],
                    "reconnectsLastHourMax": poller.max_reconnects.get(cid) if poller else None,
                    "stallsLastHour": c["stallsLastHour"],
                }
                for cid, c in cams_final.items()
            },
            "rest": {
                "requests": dict(poller.requests) if poller else {},
                "latencyMs": {
                    p: {"p50": pct(v, 0.5), "p99": pct(v, 0.99), "max": pct(v, 1.0)}
                    for p, v in lat.items()
                },
                "healthOverall": dict(poller.health) if poller else {},
                "pollsNotProcessing": {
                    self.cameras.get(k, k): v for k, v in poller.not_processing.items()
                }
                if poller
                else {},
            },
            "auth": {"logins": auth.logins, "refreshes": auth.refreshes},
            "errors": {
                "count": errors.count,
                "byKind": dict(errors.by_kind),
                "items": errors.items,
            },
            "camerasFinal": {v["name"]: v for v in cams_final.values()},
            "serverStats": final.get("stats", {}),
            "serverLogErrors": log_errors(self.serve.log_path),
            "shutdown": shutdown,
            "goals": goals,
            "passed": all(goals.values()) and not self.interrupted,
            "samples": self.samples,
        }


def print_summary(out: dict[str, Any]) -> None:
    def fmt(x: Any) -> str:
        return "n/a" if x is None else f"{x:+.1f}"

    def mag(x: Any) -> str:
        return "n/a" if x is None else f"{x:.1f}"

    sh, aw = out["slopeSecondHalf"], out["slopeAfterWarmup"]
    rss = out["serverRssMB"]
    print("\n== soak summary ==")
    c = out["config"]
    print(
        f"duration        {out['durationSeconds']:.0f} s, {c['cameras']} cameras, warm-up"
        f" {c['warmupMinutes']} min, {len(out['samples'])} samples"
        + (" (INTERRUPTED)" if out["interrupted"] else "")
    )
    print(f"setup           {out['setup']}")
    print(
        f"server RSS      first {rss['first']} MB, last {rss['last']} MB (floors: sum of each"
        f" process's lowest reading in the interval), highest reading {rss['max']} MB"
    )
    print(
        f"RSS slope       second half (t >= {sh['fromSeconds']:.0f} s, {sh['samples']} samples):"
        f" {fmt(sh['serverTotalMBPerHour'])} ± {mag(sh['serverTotalPlusMinusMBPerHour'])} MB/h"
        f" [goal < {SLOPE_GOAL_MB_H}]; after warm-up: {fmt(aw['serverTotalMBPerHour'])}"
        f" ± {mag(aw['serverTotalPlusMinusMBPerHour'])} MB/h"
    )
    b, pm = sh["serverTotalMBPerHour"], sh["serverTotalPlusMinusMBPerHour"]
    if b is not None and pm is not None and b - pm < SLOPE_GOAL_MB_H <= b + pm:
        print("  (the interval straddles the goal: inconclusive at this length, run longer)")
    print(
        f"  variants      interval means {fmt(sh['serverTotalMeanMBPerHour'])},"
        f" single readings {fmt(sh['serverTotalSingleReadingMBPerHour'])} MB/h"
    )
    roles = ", ".join(f"{k} {fmt(v)}" for k, v in sh["perRoleMBPerHour"].items())
    print(f"  per kind      {roles}")
    per = ", ".join(f"{k} {fmt(v)}" for k, v in sh["perProcessMBPerHour"].items())
    print(f"  per process   {per}")
    print(
        f"  others        rtsp fixture {fmt(sh['rtspMBPerHour'])} MB/h,"
        f" harness {fmt(sh['harnessMBPerHour'])} MB/h"
    )
    print(f"CPU cores avg   {out['cpuCoresAverage']}")
    print("alerts/camera   " + "; ".join(f"{k} {v}" for k, v in out["alertsPerCamera"].items()))
    print(f"hub messages    {out['hubMessagesByType']}")
    print(f"hub sockets     {out['hubSockets']}")
    print(f"WHEP            {out['whep']}")
    cr = out["cameraReconnects"]
    nonzero = {k: v for k, v in cr.items() if v["reconnectsLastHourMax"] or v["stallsLastHour"]}
    total = sum(v["reconnectsLastHourMax"] or 0 for v in cr.values())
    print(f"camera reconn.  {total} in the last hour ({len(cr)} cameras) {nonzero or ''}")
    rest = out["rest"]
    print(f"REST            {rest['requests']} health {rest['healthOverall']}")
    print(f"  latency ms    {rest['latencyMs']}")
    if rest["pollsNotProcessing"]:
        print(f"  not PROCESSING in polls: {rest['pollsNotProcessing']}")
    print(f"auth            {out['auth']}")
    err = out["errors"]
    print(f"errors          {err['count']} {err['byKind']}")
    for e in err["items"][:10]:
        print(f"  t={e['t']}s [{e['kind']}] {str(e['detail'])[:300]}")
    print(
        "cameras final   " + ", ".join(f"{n} {v['status']}" for n, v in out["camerasFinal"].items())
    )
    le = out["serverLogErrors"]
    print(f"server log      {le['count']} ERROR line(s) {le['events']}")
    print(f"shutdown        {out['shutdown']}")
    print(f"goals           {out['goals']} -> {'PASS' if out['passed'] else 'FAIL'}")


def parse_env(items: list[str]) -> dict[str, str]:
    env = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("BEHOLDER_"):
            raise SystemExit(f"--server-env wants BEHOLDER_KEY=VALUE, got {item!r}")
        env[key] = value
    return env


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--cameras", type=int, default=8)
    ap.add_argument("--minutes", type=float, default=60.0, help="soak duration after start-up")
    ap.add_argument("--warmup-minutes", type=float, default=2.0)
    ap.add_argument("--port", type=int, default=0, help="server port (0: a free one)")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "soak.json")
    ap.add_argument("--sample-seconds", type=float, default=15.0)
    ap.add_argument("--rss-hz", type=float, default=10.0, help="RSS readings per second")
    ap.add_argument("--poll-seconds", type=float, default=2.0)
    ap.add_argument("--start-timeout", type=float, default=None, help="s until all PROCESSING")
    ap.add_argument("--token-ttl", type=int, default=None, help="access token lifetime (s, >=30)")
    ap.add_argument("--whep-decode", action="store_true", help="decode the WHEP frames")
    ap.add_argument(
        "--server-env", action="append", default=[], metavar="BEHOLDER_KEY=VALUE", help="repeat"
    )
    ap.add_argument("--keep-data", action="store_true", help="keep the temp dir (log, db)")
    args = ap.parse_args()
    if args.cameras < 1 or args.minutes <= 0 or args.sample_seconds <= 0:
        ap.error("--cameras >= 1, --minutes > 0 and --sample-seconds > 0")
    extra = parse_env(args.server_env)
    if args.token_ttl is not None:
        extra["BEHOLDER_ACCESS_TOKEN_TTL"] = str(args.token_ttl)

    tmp = Path(tempfile.mkdtemp(prefix="beholder-soak-"))
    rtsp = RtspServer(dict(CLIPS), log_path=tmp / "rtsp.log")
    serve: Serve | None = None
    out: dict[str, Any] | None = None
    try:
        rtsp.start()
        serve = Serve(tmp, args.port or free_port(), extra)
        print(
            f"soak: serve pid {serve.pid} on {serve.base}, rtsp pid {rtsp.pid}, data {tmp};"
            f" {args.cameras} cameras for {args.minutes} min",
            flush=True,
        )
        soak = Soak(args, serve, rtsp)

        async def go() -> dict[str, Any]:
            loop = asyncio.get_running_loop()
            task = asyncio.current_task()
            assert task is not None
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
            return await soak.run()

        out = asyncio.run(go())
    finally:
        if serve is not None:
            serve.stop()
        rtsp.stop()
        if out is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(out, indent=1, default=list) + "\n")
        if args.keep_data:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    assert out is not None
    print_summary(out)
    print(f"wrote {args.json}")
    return 0 if out["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
