"""Live view through the real worker: ``serve`` (api + in-process WorkerManager), camera
started through the API, the worker's RTSP session feeding egress, an aiortc WHEP viewer;
restart keeps the viewer, stop closes it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from support.api import start_live_api, stop_live_api
from support.live import open_viewer
from support.polling import eventually
from support.rtsp import TWO_FACES, RtspServer, rtsp_fixture
from support.settings import make_settings

pytestmark = [pytest.mark.rtsp, pytest.mark.slow]


rtsp = rtsp_fixture(two=TWO_FACES)


@pytest.fixture
async def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Any, Any]]:
    pytest.importorskip("beholder.worker.manager")
    from beholder.worker.egress.hub import start_egress

    monkeypatch.setenv("BEHOLDER_WEBRTC_HOSTS", "127.0.0.1")
    monkeypatch.setenv("BEHOLDER_WEBRTC_RESTART_GRACE", "2")
    live = await start_live_api(make_settings(tmp_path, run_worker=True))
    hub = await start_egress(live.state.worker, live.state.bus, live.state.settings.live_view)
    try:
        yield live, hub
    finally:
        await hub.close()
        await stop_live_api(live)


async def camera_status(live: Any, cid: str) -> str:
    r = await live.client.get(f"/api/cameras/{cid}", headers=await live.headers("viewer"))
    return str(r.json()["status"])


async def wait_status(live: Any, cid: str, status: str, timeout: float = 20) -> None:
    async def reached() -> bool:
        return await camera_status(live, cid) == status

    await eventually(reached, timeout, f"camera {status}", every=0.2)


async def test_live_view_through_the_worker(serve: tuple[Any, Any], rtsp: RtspServer) -> None:
    live, hub = serve
    admin = await live.headers("admin")
    r = await live.client.post(
        "/api/cameras",
        json={"name": "two", "rtspUrl": rtsp.url("two"), "faceDetectionEnabled": False},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert (await live.client.post(f"/api/cameras/{cid}/start", headers=admin)).status_code == 202
    await wait_status(live, cid, "PROCESSING")
    await eventually(lambda: cid in hub.sources and hub.sources[cid].producing, 15, "egress source")
    viewer = await open_viewer(live.client, cid, await live.token("viewer"))
    try:
        assert viewer.egress == "passthrough"
        await eventually(lambda: len(viewer.frames) > 12, 10, "frames")
        # the worker's stats carry egress mode and viewer count
        sink = live.state.worker.get_session(cid).packet_sinks[0]
        assert sink.stats()["egress"] == "passthrough" and sink.stats()["viewers"] == 1
        assert live.state.worker.heartbeat().egress_sessions == 1
        old_session = live.state.worker.get_session(cid)
        # RESTART: new worker session, same viewer keeps playing on the same peer connection
        assert (
            await live.client.post(f"/api/cameras/{cid}/restart", headers=admin)
        ).status_code == 202
        await eventually(
            lambda: live.state.worker.get_session(cid) not in (None, old_session),
            10,
            "a new worker session",
        )
        t_back = time.monotonic()
        await eventually(lambda: viewer.frames_since(t_back) > 12, 20, "frames after restart")
        assert hub.stats()["sessions"] == 1 and hub.sessions_closed == 0
        # STOP: the viewer is closed once the restart grace has passed
        assert (
            await live.client.post(f"/api/cameras/{cid}/stop", headers=admin)
        ).status_code == 202
        await eventually(lambda: hub.stats()["sessions"] == 0, 10, "viewer closed on stop")
        assert hub.close_reasons == {"camera stopped": 1}
        assert hub.error_count == 0
    finally:
        await viewer.close()
