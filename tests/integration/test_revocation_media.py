"""Revocation reaches live view (issue 9, finding 6): MJPEG streams and WHEP sessions end
when their key is revoked or their user disabled, while other viewers keep watching; an
MJPEG stream ends when its access token expires; a WHEP session opened with an API key has
an expiry on the worker that the api's re-check keeps renewing only while the key is good.

The real app under uvicorn, the RTSP fixture as camera, the worker's egress hub on the app's
bus (:class:`support.live.WorkerStandIn`), httpx and aiortc as viewers.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from beholder.auth.tokens import TokenService, load_or_create_secret
from beholder.db.repositories import api_keys as keys_repo
from support.api import LiveApi, live_api
from support.live import WhepViewer, WorkerStandIn, create_camera, open_viewer
from support.polling import eventually
from support.rtsp import TWO_FACES, RtspServer, rtsp_fixture
from support.settings import make_egress_settings, make_settings

pytestmark = [pytest.mark.rtsp, pytest.mark.slow, pytest.mark.timeout(120)]

rtsp = rtsp_fixture(two=TWO_FACES)

RECHECK = 0.5
SIGNAL_TIMEOUT = 3.0  # with RECHECK: an API key's WHEP session lives 4 s unrenewed


@pytest.fixture
async def env(
    tmp_path: Path, rtsp: RtspServer
) -> AsyncIterator[tuple[LiveApi, WorkerStandIn, str]]:
    """The app (re-check every 0.5 s), a worker stand-in and one producing camera."""
    settings = make_settings(
        tmp_path,
        auth_recheck_interval=RECHECK,
        live_view=make_egress_settings(webrtc_signal_timeout=SIGNAL_TIMEOUT),
    )
    async with live_api(settings) as live:
        worker = WorkerStandIn(live.state.bus, mjpeg_max_fps=5.0)
        await worker.start()
        try:
            cid = await create_camera(live, "two", rtsp.url("two"))
            await worker.start_camera(cid, rtsp.url("two"))
            yield live, worker, cid
        finally:
            await worker.close()


async def new_key(live: LiveApi) -> tuple[str, str]:
    r = await live.client.post(
        "/api/api-keys",
        json={"name": f"k-{uuid.uuid4().hex[:6]}", "scope": "ml-service"},
        headers=await live.headers("admin"),
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["key"]


async def new_user(live: LiveApi) -> tuple[str, str]:
    """``(user id, username)`` of a new viewer."""
    name = f"u{uuid.uuid4().hex[:8]}"
    r = await live.client.post(
        "/api/users",
        json={"username": name, "password": "correct-horse-battery-7", "role": "viewer"},
        headers=await live.headers("admin"),
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], name


@dataclass
class MjpegReader:
    """Reads an MJPEG response in the background, counting JPEG parts until it ends."""

    parts: int = 0
    status: int | None = None
    ended: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def start(self, client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> MjpegReader:
        async def run() -> None:
            async with client.stream("GET", url, headers=headers, timeout=60) as r:
                self.status = r.status_code
                async for chunk in r.aiter_bytes():
                    self.parts += chunk.count(b"\xff\xd9")  # end-of-image markers
            self.ended = True

        self.task = asyncio.create_task(run())
        return self

    async def receiving(self) -> None:
        """Wait until at least one more part arrives."""
        n = self.parts
        await eventually(lambda: self.parts > n or self.ended, 15, "an MJPEG part")
        assert not self.ended and self.status == 200

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


async def test_revoke_and_disable_end_their_mjpeg_streams_only(
    env: tuple[LiveApi, WorkerStandIn, str],
) -> None:
    live, _, cid = env
    url = f"/api/cameras/{cid}/mjpeg"
    admin = await live.headers("admin")
    key_id, key = await new_key(live)
    user_id, name = await new_user(live)
    user_token = await live.login(name, "correct-horse-battery-7")
    by_key = MjpegReader().start(live.client, url, {"X-API-Key": key})
    by_user = MjpegReader().start(live.client, url, {"Authorization": f"Bearer {user_token}"})
    other = MjpegReader().start(live.client, url, await live.headers("viewer"))
    try:
        for reader in (by_key, by_user, other):
            await reader.receiving()

        r = await live.client.post(f"/api/api-keys/{key_id}/revoke", headers=admin)
        assert r.status_code == 200, r.text
        await eventually(lambda: by_key.ended, 5, "the key's MJPEG stream to end")
        await by_user.receiving()

        r = await live.client.patch(f"/api/users/{user_id}", json={"disabled": True}, headers=admin)
        assert r.status_code == 200, r.text
        await eventually(lambda: by_user.ended, 5, "the disabled user's MJPEG stream to end")
        await other.receiving()
        assert live.state.connections.ended["mjpeg"] == 2
    finally:
        for reader in (by_key, by_user, other):
            await reader.close()


async def test_mjpeg_stream_ends_when_its_token_expires(
    env: tuple[LiveApi, WorkerStandIn, str],
) -> None:
    live, _, cid = env
    user_id, name = await new_user(live)
    # a real access token of this app that expires in 3 s (the TTL setting's floor is 30 s)
    tokens = TokenService(load_or_create_secret(live.settings.secret_file), 3, 60)
    short = tokens.issue(user_id, name, "viewer").access_token
    reader = MjpegReader().start(
        live.client, f"/api/cameras/{cid}/mjpeg", {"Authorization": f"Bearer {short}"}
    )
    try:
        await reader.receiving()
        await eventually(lambda: reader.ended, 10, "the MJPEG stream to end at token expiry")
        assert live.state.connections.ended["mjpeg"] == 1
    finally:
        await reader.close()


async def test_revoke_and_disable_end_their_whep_sessions_only(
    env: tuple[LiveApi, WorkerStandIn, str],
) -> None:
    live, worker, cid = env
    admin = await live.headers("admin")
    key_id, key = await new_key(live)
    user_id, name = await new_user(live)
    by_key = await open_viewer(live.client, cid, key)
    by_user = await open_viewer(live.client, cid, await live.login(name, "correct-horse-battery-7"))
    other = await open_viewer(live.client, cid, await live.token("viewer"))
    viewers = (by_key, by_user, other)
    sessions = {v.location.rsplit("/", 1)[1] for v in viewers if v.location}
    try:
        for v in viewers:
            await eventually(lambda v=v: len(v.frames) > 0, 15, "first frame")  # type: ignore[misc]
        assert set(worker.hub.sessions) == sessions

        def gone(viewer: WhepViewer) -> bool:
            return str(viewer.location).rsplit("/", 1)[1] not in worker.hub.sessions

        r = await live.client.post(f"/api/api-keys/{key_id}/revoke", headers=admin)
        assert r.status_code == 200, r.text
        await eventually(lambda: gone(by_key), 5, "the key's WHEP session to end")
        r = await live.client.patch(f"/api/users/{user_id}", json={"disabled": True}, headers=admin)
        assert r.status_code == 200, r.text
        await eventually(lambda: gone(by_user), 5, "the disabled user's WHEP session to end")

        assert not gone(other)
        n = len(other.frames)
        await eventually(lambda: len(other.frames) > n + 5, 10, "the other viewer's frames")
        assert live.state.connections.ended["whep"] == 2
    finally:
        for v in viewers:
            await v.close()


async def test_key_whep_session_is_renewed_while_good_and_ended_by_the_recheck(
    env: tuple[LiveApi, WorkerStandIn, str],
) -> None:
    live, worker, cid = env
    key_id, key = await new_key(live)
    viewer = await open_viewer(live.client, cid, key)
    sid = viewer.location.rsplit("/", 1)[1] if viewer.location else ""
    try:
        await eventually(lambda: viewer.frames, 15, "first frame")
        session = worker.hub.sessions[sid]
        first = session.expires_at
        assert first is not None and first <= time.time() + 2 * RECHECK + SIGNAL_TIMEOUT + 1
        # the re-check renews it: it outlives its first expiry
        await eventually(lambda: (session.expires_at or 0) > first + 2, 15, "renewals")
        await eventually(lambda: time.time() > first + 1, 10, "the first expiry to pass")
        assert sid in worker.hub.sessions

        # revoked behind the api's back (another process, no bus event): the re-check ends it
        async with live.state.db.session() as s:
            await keys_repo.revoke(s, key_id)
            await s.commit()
        await eventually(lambda: sid not in worker.hub.sessions, 10, "the re-check to end it")
    finally:
        await viewer.close()
