"""Helpers for the live-view tests (WHEP/MJPEG): the worker side stand-in and a WHEP client.

Until the worker's camera session drives egress in these tests, :class:`WorkerStandIn` plays
its part in-process on the app's own bus: an :class:`EgressHub` (exactly what the worker
runs) attached through ``session_listener`` to a fake session whose packets come from a
:class:`PacketFeeder` reading the RTSP fixture.
"""

from __future__ import annotations

import asyncio
import gc
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from beholder.db.repositories import cameras as cameras_repo
from beholder.worker.egress import ice
from beholder.worker.egress.feeder import PacketFeeder
from beholder.worker.egress.hub import EgressHub
from support.api import LiveApi, live_api
from support.polling import eventually
from support.settings import make_egress_settings, make_settings


@dataclass
class FakeSession:
    """What the egress hub needs of the worker's CameraSession: ``add_packet_sink``."""

    camera_id: str
    packet_sinks: list[Any] = field(default_factory=list)

    def add_packet_sink(self, sink: Any) -> None:
        if sink not in self.packet_sinks:
            self.packet_sinks.append(sink)


class WorkerStandIn:
    """An :class:`EgressHub` on the app's bus plus one feeder per camera."""

    def __init__(self, bus: Any, **settings: Any) -> None:
        self.hub = EgressHub(bus, make_egress_settings(**settings), worker_id="test-worker")
        self.feeders: dict[str, PacketFeeder] = {}
        self.sessions: dict[str, FakeSession] = {}

    async def start(self) -> None:
        await self.hub.start()

    async def start_camera(self, camera_id: str, url: str, wait: bool = True) -> PacketFeeder:
        """Start a session for ``camera_id`` reading ``url``; wait until it produces."""
        session = FakeSession(camera_id)
        self.hub.session_listener(camera_id, session)
        await self.hub.attach(camera_id)
        feeder = PacketFeeder(url, session.packet_sinks).start()
        self.feeders[camera_id] = feeder
        self.sessions[camera_id] = session
        if wait:
            await eventually(
                lambda: self.hub.sources[camera_id].producing, 15, f"{camera_id} producing"
            )
        return feeder

    async def stop_camera(self, camera_id: str) -> None:
        feeder = self.feeders.pop(camera_id, None)
        if feeder is not None:
            await asyncio.to_thread(feeder.stop)
        self.sessions.pop(camera_id, None)
        self.hub.session_listener(camera_id, None)

    async def close(self) -> None:
        for cid in list(self.feeders):
            await self.stop_camera(cid)
        await self.hub.close()


@asynccontextmanager
async def live_env(
    tmp_path: Path, **worker_settings: Any
) -> AsyncIterator[tuple[LiveApi, WorkerStandIn]]:
    """The app under uvicorn (:func:`support.api.live_api`, settings in ``tmp_path``) and a
    started :class:`WorkerStandIn` on its bus (``worker_settings``: ``LiveViewSettings``
    overrides); both closed on exit, the worker first."""
    async with live_api(make_settings(tmp_path)) as live:
        worker = WorkerStandIn(live.state.bus, **worker_settings)
        await worker.start()
        try:
            yield live, worker
        finally:
            await worker.close()


def live_env_fixture(**worker_settings: Any) -> Any:
    """An ``env`` fixture yielding ``(live, worker)`` from :func:`live_env` (the test's
    ``tmp_path``, ``worker_settings`` for the stand-in). Use as ``env = live_env_fixture()``."""

    @pytest.fixture(name="env")
    async def _env(tmp_path: Path) -> AsyncIterator[tuple[LiveApi, WorkerStandIn]]:
        async with live_env(tmp_path, **worker_settings) as env:
            yield env

    return _env


async def create_camera(live: Any, name: str, url: str, status: str = "PROCESSING") -> str:
    """Create a camera through the API and record ``status`` as a worker would report it."""
    r = await live.client.post(
        "/api/cameras", json={"name": name, "rtspUrl": url}, headers=await live.headers("admin")
    )
    assert r.status_code == 201, r.text
    camera_id: str = r.json()["id"]
    await set_status(live, camera_id, status)
    return camera_id


async def set_status(live: Any, camera_id: str, status: str) -> None:
    async with live.state.db.session() as s:
        await cameras_repo.set_status(s, camera_id, status)
        await s.commit()


@dataclass
class WhepViewer:
    """An aiortc WHEP client: receives and decodes the camera's video."""

    pc: RTCPeerConnection
    location: str | None = None
    answer: str | None = None
    egress: str | None = None
    frames: list[tuple[float, int, int]] = field(default_factory=list)
    consumer: asyncio.Task[None] | None = None

    def frames_since(self, t: float) -> int:
        return sum(1 for ts, _, _ in self.frames if ts >= t)

    def rate(self, t0: float, t1: float) -> float:
        n = sum(1 for ts, _, _ in self.frames if t0 <= ts < t1)
        return n / (t1 - t0)

    def answer_codec(self) -> str:
        """Encoding name of the first payload type of the answer's video m-line."""
        assert self.answer is not None
        m = re.search(r"^m=video \d+ \S+ (\d+)", self.answer, re.M)
        assert m, self.answer
        pt = m.group(1)
        rtpmap = re.search(rf"^a=rtpmap:{pt} ([^/\s]+)", self.answer, re.M)
        assert rtpmap, self.answer
        return rtpmap.group(1)

    async def close(self) -> None:
        await self.pc.close()
        if self.consumer is not None:
            self.consumer.cancel()


async def whep_offer_sdp(pc: RTCPeerConnection) -> str:
    pc.addTransceiver("video", direction="recvonly")
    with ice.host_addresses(["127.0.0.1"]):
        await pc.setLocalDescription(await pc.createOffer())
    return str(pc.localDescription.sdp)


async def open_viewer(client: httpx.AsyncClient, camera_id: str, token: str) -> WhepViewer:
    """POST an offer to the WHEP endpoint and start consuming the answer's video."""
    pc = RTCPeerConnection()
    viewer = WhepViewer(pc)

    @pc.on("track")
    def on_track(track: Any) -> None:
        async def consume() -> None:
            while True:
                try:
                    frame = await track.recv()
                except Exception:
                    return
                viewer.frames.append((time.monotonic(), frame.width, frame.height))

        viewer.consumer = asyncio.ensure_future(consume())

    sdp = await whep_offer_sdp(pc)
    r = await client.post(
        f"/api/cameras/{camera_id}/whep",
        content=sdp,
        headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"},
    )
    if r.status_code != 201:
        await pc.close()
        raise AssertionError(f"WHEP POST {r.status_code}: {r.text}")
    assert r.headers["content-type"].startswith("application/sdp")
    viewer.location = r.headers["location"]
    viewer.answer = r.text
    viewer.egress = r.headers.get("x-beholder-egress")
    await pc.setRemoteDescription(RTCSessionDescription(r.text, "answer"))
    return viewer


def collect() -> None:
    for _ in range(3):
        gc.collect()
