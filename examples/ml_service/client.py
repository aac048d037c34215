"""An ML service for Beholder's mobile relay: watches streams, runs a face detector on their
frames and sends alerts back (they reach the phone, the dashboards and the alert history).

It signs in with an API key of scope ``ml-service`` (it acts for the key owner's streams),
connects to ``/api/streams/ws`` and, per stream::

    → {"type": "auth", "token": "<ml-service key>"}             ← auth-ok
    → {"type": "subscribe", "clientType": "ml-service", "streamId": …,
       "consumes": ["video"], "produces": ["alerts"], "binary": true}   ← subscribed
    ← binary frames: 28-byte header (version, codec, flags, stream id, unix ms) + JPEG
    → {"type": "alert", "streamId", "severity": "medium", "message": "2 faces in view",
       "alertType": "ml-alert", "metadata": {"confidence", "box": [x, y, w, h],
       "location": {"x", "y"}, "objectType": "face", "faces", "frameTimestamp"},
       "timestamp": <unix ms>}

The detector is Beholder's own (:func:`beholder.worker.detect.create_detector`: YuNet by
default, or the OpenCV Haar cascade), followed by Beholder's tracker
(:class:`beholder.worker.detect.tracker.FaceTracker`) so that a person who stays in view is
**one** alert, not one per frame. Frames arrive faster than a detector runs: each stream
keeps only its latest frame and analyses at most ``--fps`` per second, in a thread (the
event loop keeps reading the socket, so the relay never has to drop frames for us).

Streams: those named with ``--stream`` (repeatable), else every stream the key's owner has
(``GET /api/streams``), looked up again every ``--refresh`` seconds. A lost connection is
retried with exponential backoff and full jitter; a refused key (close 1008/4401) stops.

Usage::

    BEHOLDER_API_KEY=bhk_… python examples/ml_service/client.py --url http://127.0.0.1:8080
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from beholder.contracts.relay_frame import FrameError, decode_frame
from beholder.worker.detect import create_detector
from beholder.worker.detect.base import Detector, Face, detect_scaled
from beholder.worker.detect.tracker import FaceTracker
from beholder.worker.streams.jpeg import BadJpeg, decode_jpeg

FINAL_CLOSE_CODES = {1008: "key refused", 4401: "key revoked"}


class _Done(Exception):
    """The service was stopped: the session ends without reconnecting."""


def backoff_delay(attempt: int, base: float = 1.0, cap: float = 30.0) -> float:
    """Full-jitter exponential backoff: uniform in ``0 .. min(cap, base * 2**(attempt-1))`` s."""
    return random.uniform(0.0, min(cap, base * 2 ** (attempt - 1)))  # noqa: S311 - jitter


def ws_url(base_url: str) -> str:
    """The relay's WebSocket URL for an http(s) base URL."""
    scheme, rest = base_url.rstrip("/").split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/api/streams/ws"


@dataclass
class Finding:
    """What one analysed frame gave: ``faces`` in view, ``new`` when a face appeared that was
    not announced yet (then an alert is due)."""

    faces: list[Face]
    new: bool
    width: int
    height: int


class StreamAnalyser:
    """One stream's detector state: Beholder's detector + tracker. ``analyse`` is blocking
    CPU work (run it in a thread, one call at a time per stream)."""

    def __init__(self, detector: Detector, *, track_memory_s: float = 3.0) -> None:
        self.detector = detector
        self.tracker = FaceTracker(memory_s=track_memory_s)
        self.announced: set[int] = set()

    def analyse(self, jpeg: bytes | memoryview, ts: float) -> Finding:
        """Decode ``jpeg``, detect, track. ``ts``: monotonic seconds. Raises ``ValueError``
        for an image that cannot be decoded."""
        img = decode_jpeg(jpeg)
        faces, _ms = detect_scaled(self.detector, img)
        tracked = self.tracker.update(faces, ts)
        alive = {t.track_id for t in self.tracker.tracks}
        self.announced &= alive
        ids = {t.track_id for t in tracked}
        new = bool(ids - self.announced)
        self.announced |= ids
        return Finding([t.face for t in tracked], new, img.shape[1], img.shape[0])


def alert_message(stream_id: str, finding: Finding, frame_ts_ms: int) -> dict[str, Any]:
    """The ``alert`` message for a finding: the most confident face's box, centre and
    confidence, every face's box, and the analysed frame's timestamp."""
    best = max(finding.faces, key=lambda f: f.confidence)
    n = len(finding.faces)
    return {
        "type": "alert",
        "streamId": stream_id,
        "severity": "medium",
        "alertType": "ml-alert",
        "message": f"{n} face{'s' if n != 1 else ''} in view",
        "metadata": {
            "confidence": round(best.confidence, 3),
            "box": list(best.box),
            "location": {"x": best.x + best.w / 2, "y": best.y + best.h / 2},
            "objectType": "face",
            "faces": [list(f.box) for f in finding.faces][:20],
            "frameTimestamp": frame_ts_ms,
            "frameSize": [finding.width, finding.height],
        },
        "timestamp": int(time.time() * 1000),
    }


@dataclass
class MlService:
    """Subscribes to streams and answers with alerts (see the module docstring).

    ``make_detector``: one detector per stream (each stream's analysis runs in its own
    thread turn). ``fps``: analyses per second per stream, at most. ``on_alert`` sees each
    alert message sent."""

    base_url: str
    api_key: str
    streams: list[str] | None = None
    make_detector: Callable[[], Detector] = create_detector
    fps: float = 5.0
    refresh_s: float = 10.0
    on_alert: Callable[[dict[str, Any]], None] | None = None
    sent: list[dict[str, Any]] = field(default_factory=list, init=False)
    analysed: int = field(default=0, init=False)
    subscribed: set[str] = field(default_factory=set, init=False)
    _latest: dict[str, tuple[int, memoryview]] = field(default_factory=dict, init=False)
    _wake: dict[str, asyncio.Event] = field(default_factory=dict, init=False)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Connect and serve until :meth:`stop`; reconnects after a lost connection."""
        attempt = 0
        while not self._stopping.is_set():
            try:
                await self._session()
                return
            except websockets.ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else None
                if code in FINAL_CLOSE_CODES:
                    raise RuntimeError(f"closed {code}: {FINAL_CLOSE_CODES[code]}") from None
                why = f"closed {code}"
            except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
                why = f"{type(exc).__name__}: {exc}"
            attempt = 1 if self.subscribed else attempt + 1
            self.subscribed.clear()
            delay = backoff_delay(attempt)
            print(f"connection lost ({why}); retrying in {delay:.1f} s", file=sys.stderr)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _wanted(self, http: httpx.AsyncClient) -> list[str]:
        if self.streams is not None:
            return list(self.streams)
        r = await http.get("/api/streams", params={"limit": 200})
        r.raise_for_status()
        return [s["id"] for s in r.json()["items"]]

    async def _session(self) -> None:
        headers = {"X-API-Key": self.api_key}
        async with (
            httpx.AsyncClient(base_url=self.base_url, headers=headers) as http,
            websockets.connect(ws_url(self.base_url), max_size=8 * 1024 * 1024) as ws,
        ):
            await ws.send(json.dumps({"type": "auth", "token": self.api_key}))
            async with asyncio.timeout(15):
                while json.loads(await ws.recv()).get("type") != "auth-ok":
                    pass
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._read(ws, tg))
                    tg.create_task(self._follow_streams(ws, http))
                    tg.create_task(self._until_stopped(ws))
            except* _Done:
                pass  # stopped: the session ends here
            except* (websockets.ConnectionClosed, OSError, httpx.HTTPError) as group:
                raise group.exceptions[0] from None

    async def _until_stopped(self, ws: ClientConnection) -> None:
        await self._stopping.wait()
        await ws.close()

    async def _follow_streams(self, ws: ClientConnection, http: httpx.AsyncClient) -> None:
        """Subscribe to the wanted streams now and every ``refresh_s`` seconds."""
        while not self._stopping.is_set():
            for sid in await self._wanted(http):
                if sid not in self.subscribed:
                    self.subscribed.add(sid)
                    await ws.send(
                        json.dumps(
                            {
                                "type": "subscribe",
                                "clientType": "ml-service",
                                "streamId": sid,
                                "consumes": ["video"],
                                "produces": ["alerts"],
                                "binary": True,
                            }
                        )
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.refresh_s)

    async def _read(self, ws: ClientConnection, tg: asyncio.TaskGroup) -> None:
        async for raw in ws:
            if isinstance(raw, bytes):
                try:
                    frame = decode_frame(raw)
                except FrameError as exc:
                    print(f"bad frame: {exc}", file=sys.stderr)
                    continue
                self._latest[frame.stream_id] = (frame.timestamp_ms, frame.jpeg)
                wake = self._wake.get(frame.stream_id)
                if wake is None:
                    wake = self._wake[frame.stream_id] = asyncio.Event()
                    tg.create_task(self._analyse_stream(ws, frame.stream_id, wake))
                wake.set()
                continue
            msg = json.loads(raw)
            kind = msg.get("type")
            if kind == "ping":
                await ws.send(json.dumps({"type": "pong", "ts": msg.get("ts")}))
            elif kind == "error":
                err = msg.get("error", {})
                print(f"server error {err.get('code')}: {err.get('message')}", file=sys.stderr)
                if msg.get("streamId"):
                    self.subscribed.discard(msg["streamId"])  # e.g. not ours: retried later
            elif kind == "stream-deleted":
                self.subscribed.discard(msg.get("streamId", ""))
        if self._stopping.is_set():
            raise _Done  # ends the task group: the stream analysers with it
        await ws.recv()  # the server closed: raises ConnectionClosed with its code

    async def _analyse_stream(self, ws: ClientConnection, sid: str, wake: asyncio.Event) -> None:
        """One stream: analyse its latest frame, at most ``fps`` times a second."""
        analyser = StreamAnalyser(await asyncio.to_thread(self.make_detector))
        period = 1.0 / self.fps
        while True:
            await wake.wait()
            wake.clear()
            started = time.monotonic()
            latest = self._latest.pop(sid, None)
            if latest is None:
                continue
            ts_ms, jpeg = latest
            try:
                finding = await asyncio.to_thread(analyser.analyse, jpeg, started)
            except (BadJpeg, ValueError) as exc:
                print(f"{sid}: undecodable frame: {exc}", file=sys.stderr)
                continue
            self.analysed += 1
            if finding.new and finding.faces:
                msg = alert_message(sid, finding, ts_ms)
                await ws.send(json.dumps(msg))
                self.sent.append(msg)
                if self.on_alert is not None:
                    self.on_alert(msg)
            rest = period - (time.monotonic() - started)
            if rest > 0:
                await asyncio.sleep(rest)  # the analysis rate bound, not a wait on a condition


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8080", help="Beholder's base URL")
    p.add_argument("--api-key", default=os.environ.get("BEHOLDER_API_KEY"), help="scope ml-service")
    p.add_argument("--stream", action="append", help="a stream id (default: all the owner's)")
    p.add_argument("--detector", default="yunet", choices=("yunet", "haar"))
    p.add_argument("--threshold", type=float, help="minimum confidence 0..1")
    p.add_argument("--fps", type=float, default=5.0, help="analyses per second per stream")
    p.add_argument("--refresh", type=float, default=10.0, help="s between stream look-ups")
    args = p.parse_args(argv)
    if not args.api_key:
        p.error("give --api-key (or BEHOLDER_API_KEY), scope ml-service")
    return args


async def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    service = MlService(
        args.url,
        args.api_key,
        streams=args.stream,
        make_detector=lambda: create_detector(args.detector, args.threshold),
        fps=args.fps,
        refresh_s=args.refresh,
        on_alert=lambda m: print(f"[sent] {m['streamId']}: {m['message']}", flush=True),
    )
    try:
        await service.run()
    except RuntimeError as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main()))
