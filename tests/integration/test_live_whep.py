"""WHEP live view end to end: the real app under uvicorn, the RTSP fixture as camera, the
worker's egress hub on the app's bus, and aiortc as the viewer (issue 4)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiortc import RTCPeerConnection

from support.api import start_live_api, stop_live_api
from support.live import (
    WorkerStandIn,
    collect,
    create_camera,
    live_env_fixture,
    open_viewer,
    set_status,
    whep_offer_sdp,
)
from support.polling import eventually
from support.rtsp import TWO_FACES, WALKING, RtspServer, rtsp_fixture
from support.settings import make_settings

pytestmark = [pytest.mark.rtsp, pytest.mark.slow]


rtsp = rtsp_fixture(two=TWO_FACES, walk=WALKING)


env = live_env_fixture()


async def test_passthrough_h264_at_source_rate(env: tuple, rtsp: RtspServer) -> None:
    live, worker = env
    cid = await create_camera(live, "two", rtsp.url("two"))
    await worker.start_camera(cid, rtsp.url("two"))
    viewer = await open_viewer(live.client, cid, await live.token("viewer"))
    try:
        assert viewer.answer_codec().upper() == "H264"
        assert viewer.egress == "passthrough"
        assert viewer.location == f"/api/cameras/{cid}/whep/{viewer.location.rsplit('/', 1)[1]}"
        await eventually(lambda: len(viewer.frames) > 0, 10, "first frame")
        await asyncio.sleep(1.0)  # past the GOP-cache burst
        t0 = time.monotonic()
        await asyncio.sleep(4.0)  # the window the frame rate is measured over
        rate = viewer.rate(t0, time.monotonic())
        assert 12 * 0.75 <= rate <= 12 * 1.25, rate  # the clip is 12 fps
        assert {(w, h) for _, w, h in viewer.frames} == {(480, 270)}
        st = worker.hub.stats()["cameras"][cid]
        assert st["egress"] == "passthrough"
        assert st["viewers"] == 1
        assert st["decodedFrames"] == 0 and st["encodedFrames"] == 0
        assert st["transcoderStarts"] == 0
        assert worker.hub.sources[cid]._pipeline is None  # no decoder ever existed
    finally:
        await viewer.close()


async def test_bframes_source_is_transcoded_once(env: tuple, rtsp: RtspServer) -> None:
    live, worker = env
    cid = await create_camera(live, "walk", rtsp.url("walk"))
    await worker.start_camera(cid, rtsp.url("walk"))
    token = await live.token("viewer")
    viewers = [await open_viewer(live.client, cid, token) for _ in range(2)]
    try:
        for v in viewers:
            assert v.answer_codec().upper() == "H264"
            assert v.egress == "transcode"
            await eventually(lambda v=v: len(v.frames) > 0, 15, "first transcoded frame")
        await asyncio.sleep(1.0)  # past the GOP-cache burst
        t0 = time.monotonic()
        enc0 = worker.hub.stats()["cameras"][cid]["encodedFrames"]
        await asyncio.sleep(4.0)  # the window the frame and encode rates are measured over
        t1 = time.monotonic()
        st = worker.hub.stats()["cameras"][cid]
        for v in viewers:
            assert v.rate(t0, t1) >= 10 * 0.6, v.rate(t0, t1)  # clip is 10 fps
        assert st["egress"] == "transcode" and st["egressReason"] == "B-frames"
        assert st["viewers"] == 2
        assert st["transcoderStarts"] == 1  # one encoder for both viewers
        encoded = st["encodedFrames"] - enc0
        assert encoded <= 10 * (t1 - t0) * 1.3, encoded  # one encode per frame, not per viewer
    finally:
        for v in viewers:
            await v.close()


async def test_refusals(env: tuple, rtsp: RtspServer) -> None:
    live, worker = env
    client = live.client
    cid = await create_camera(live, "two", rtsp.url("two"))
    await worker.start_camera(cid, rtsp.url("two"))
    token = await live.token("viewer")
    offer = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 H264/90000\r\n"
    )
    sdp_headers = {"Content-Type": "application/sdp"}
    url = f"/api/cameras/{cid}/whep"

    def check(r: object, status: int, code: str) -> None:
        assert r.status_code == status, r.text  # type: ignore[attr-defined]
        assert r.json()["error"]["code"] == code, r.text  # type: ignore[attr-defined]

    # anonymous and wrong token
    check(await client.post(url, content=offer, headers=sdp_headers), 401, "UNAUTHORIZED")
    check(
        await client.post(
            url, content=offer, headers={**sdp_headers, "Authorization": "Bearer nope"}
        ),
        401,
        "UNAUTHORIZED",
    )
    auth = {**sdp_headers, "Authorization": f"Bearer {token}"}
    # malformed SDP: rejected by the api or by the worker, never a server error
    check(await client.post(url, content="hello", headers=auth), 400, "INVALID_INPUT")
    check(await client.post(url, content=offer, headers=auth), 400, "INVALID_INPUT")
    check(
        await client.post(url, content=offer + "a=garbage\r\nm=video x\r\n", headers=auth),
        400,
        "INVALID_INPUT",
    )
    check(
        await client.post(
            url,
            content=offer,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
        ),
        400,
        "INVALID_INPUT",
    )
    # unknown, stopped, not yet producing
    check(
        await client.post(
            "/api/cameras/00000000-0000-4000-8000-000000000000/whep", content=offer, headers=auth
        ),
        404,
        "NOT_FOUND",
    )
    await set_status(live, cid, "STOPPED")
    check(await client.post(url, content=offer, headers=auth), 409, "CONFLICT")
    await set_status(live, cid, "CONNECTING")
    check(await client.post(url, content=offer, headers=auth), 503, "STREAM_UNAVAILABLE")
    # the DB says PROCESSING but no worker holds it
    other = await create_camera(live, "orphan", rtsp.url("two"))
    check(
        await client.post(f"/api/cameras/{other}/whep", content=offer, headers=auth),
        503,
        "STREAM_UNAVAILABLE",
    )
    # WHEP verbs
    r = await client.options(url)
    assert (
        r.status_code == 204
        and "POST" in r.headers["allow"]
        and r.headers["accept-post"] == "application/sdp"
    )
    sess = f"{url}/11111111-1111-4111-8111-111111111111"
    check(await client.patch(sess, content="a=candidate", headers=auth), 405, "METHOD_NOT_ALLOWED")
    check(await client.delete(sess, headers=auth), 404, "NOT_FOUND")
    check(await client.get(url, headers=auth), 405, "METHOD_NOT_ALLOWED")
    assert worker.hub.error_count == 0
    assert worker.hub.stats()["sessions"] == 0


async def test_viewer_limit_answers_503(tmp_path: Path, rtsp: RtspServer) -> None:
    live = await start_live_api(make_settings(tmp_path))
    worker = WorkerStandIn(live.state.bus, webrtc_max_viewers_per_camera=1)
    await worker.start()
    viewer = None
    try:
        cid = await create_camera(live, "two", rtsp.url("two"))
        await worker.start_camera(cid, rtsp.url("two"))
        token = await live.token("viewer")
        viewer = await open_viewer(live.client, cid, token)
        with pytest.raises(AssertionError, match=r"503.*SERVICE_UNAVAILABLE"):
            await open_viewer(live.client, cid, token)
    finally:
        if viewer is not None:
            await viewer.close()
        await worker.close()
        await stop_live_api(live)


async def test_four_viewers_join_and_leave_without_leaks(env: tuple, rtsp: RtspServer) -> None:
    live, worker = env
    hub = worker.hub
    cid = await create_camera(live, "two", rtsp.url("two"))
    await worker.start_camera(cid, rtsp.url("two"))
    token = await live.token("viewer")
    collect()
    base = hub.stats()
    viewers = [await open_viewer(live.client, cid, token) for _ in range(4)]
    for v in viewers:
        await eventually(lambda v=v: len(v.frames) > 3, 10, "frames on every viewer")
    assert hub.stats()["sessions"] == 4
    assert hub.stats()["cameras"][cid]["viewers"] == 4
    # two hang up properly (DELETE), one just closes its peer connection, one is left to the
    # camera stopping
    for v in viewers[:2]:
        r = await live.client.delete(v.location, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        await v.close()
    await viewers[2].close()
    await eventually(lambda: hub.stats()["sessions"] == 1, 10, "closed peer connection noticed")
    await worker.stop_camera(cid)
    await hub.detach(cid)  # the camera stopped for good (grace skipped)
    await viewers[3].close()

    def released() -> bool:
        collect()
        st = hub.stats()
        return bool(st["sessions"] == 0 and st["viewers"] == 0 and st["tracks"] == 0)

    await eventually(released, 5, "every viewer released", every=0.2)
    collect()
    st = hub.stats()
    assert st["sessions"] == 0 and st["viewers"] == 0
    assert st["peerConnections"] == base["peerConnections"] == 0
    assert st["tracks"] == 0
    assert st["tasks"] == 0
    assert st["closeReasons"] == {"viewer hung up": 2, "connection closed": 1, "camera stopped": 1}
    assert hub.error_count == 0


async def test_token_expiry_closes_session(env: tuple, rtsp: RtspServer) -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from beholder.contracts.live import WhepAnswer, WhepOffer
    from beholder.contracts.subjects import whep_subject
    from support.live import whep_offer_sdp

    live, worker = env
    cid = await create_camera(live, "two", rtsp.url("two"))
    await worker.start_camera(cid, rtsp.url("two"))
    pc = RTCPeerConnection()
    try:
        sdp = await whep_offer_sdp(pc)
        offer = WhepOffer(camera_id=cid, sdp=sdp, principal="user:x", expires_at=time.time() + 2)
        raw = await live.state.bus.request(whep_subject(cid), offer.to_bytes(), timeout=10)
        reply = WhepAnswer.from_bytes(raw)
        assert reply.ok, reply
        await pc.setRemoteDescription(RTCSessionDescription(reply.sdp, "answer"))
        await eventually(lambda: worker.hub.stats()["viewers"] == 1, 10, "connected")
        await eventually(lambda: worker.hub.stats()["sessions"] == 0, 10, "expiry")
        assert worker.hub.close_reasons == {"token expired": 1}
    finally:
        await pc.close()


async def test_rtsp_server_killed_mid_view(env: tuple, tmp_path: Path) -> None:
    live, worker = env
    server = RtspServer({"two": TWO_FACES})
    server.start()
    viewer = None
    try:
        cid = await create_camera(live, "two", server.url("two"))
        feeder = await worker.start_camera(cid, server.url("two"))
        viewer = await open_viewer(live.client, cid, await live.token("viewer"))
        await eventually(lambda: len(viewer.frames) > 5, 10, "frames before the kill")
        await asyncio.to_thread(server.stop)
        await asyncio.sleep(2.0)  # the camera stays dead a while: that is the case under test
        r = await live.client.get("/api/cameras", headers=await live.headers("viewer"))
        assert r.status_code == 200  # the api does not care
        await asyncio.to_thread(server.start)
        t_back = time.monotonic()
        await eventually(lambda: feeder.opens >= 2, 20, "feeder reconnected")
        await eventually(lambda: viewer.frames_since(t_back) > 12, 20, "frames after recovery")
        assert worker.hub.stats()["sessions"] == 1  # same peer connection
        assert worker.hub.stats()["cameras"][cid]["reconnects"] >= 1
        assert worker.hub.error_count == 0
    finally:
        if viewer is not None:
            await viewer.close()
        server.stop()


async def test_silent_viewer_is_closed(tmp_path: Path, rtsp: RtspServer) -> None:
    live = await start_live_api(make_settings(tmp_path))
    worker = WorkerStandIn(live.state.bus, webrtc_idle_timeout=3.0)
    await worker.start()
    viewer = None
    try:
        cid = await create_camera(live, "two", rtsp.url("two"))
        await worker.start_camera(cid, rtsp.url("two"))
        viewer = await open_viewer(live.client, cid, await live.token("viewer"))
        await eventually(lambda: len(viewer.frames) > 3, 10, "frames")
        await eventually(
            lambda: worker.hub.sessions and all(s.last_rtcp for s in worker.hub.sessions.values()),
            10,
            "receiver reports",
        )

        # the viewer's network goes quiet: no RTCP (nor media) leaves it any more
        async def drop(data: bytes) -> None:
            return None

        for t in viewer.pc.getTransceivers():
            t.receiver.transport.transport._send = drop
        await eventually(lambda: worker.hub.stats()["sessions"] == 0, 15, "silent viewer closed")
        assert worker.hub.close_reasons == {"viewer silent": 1}
    finally:
        if viewer is not None:
            await viewer.close()
        await worker.close()
        await stop_live_api(live)


async def test_sessions_per_principal_capped_429_and_released(
    tmp_path: Path, rtsp: RtspServer
) -> None:
    """Issue 9: one principal cannot pile up WHEP sessions (each an aiortc peer connection
    on the worker); the cap is per principal, and a session stops counting once it ends,
    however it ends (DELETE, the peer connection closing)."""
    live = await start_live_api(make_settings(tmp_path))
    worker = WorkerStandIn(live.state.bus, webrtc_max_sessions_per_principal=2)
    await worker.start()
    viewers = []
    try:
        cid = await create_camera(live, "two", rtsp.url("two"))
        await worker.start_camera(cid, rtsp.url("two"))
        token = await live.token("viewer")
        viewers = [await open_viewer(live.client, cid, token) for _ in range(2)]
        pc = RTCPeerConnection()
        r = await live.client.post(
            f"/api/cameras/{cid}/whep",
            content=await whep_offer_sdp(pc),
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"},
        )
        await pc.close()
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
        assert r.headers["Retry-After"].isdigit()
        # another principal is not affected
        other = await open_viewer(live.client, cid, await live.token("operator"))
        await eventually(lambda: len(other.frames) > 0, 10, "frames on the other principal")
        await other.close()
        # a hung-up session frees its slot at once ...
        auth = {"Authorization": f"Bearer {token}"}
        assert (await live.client.delete(viewers[0].location, headers=auth)).status_code == 200
        await viewers[0].close()
        viewers[0] = await open_viewer(live.client, cid, token)
        # ... and so does one whose peer connection just closed
        await eventually(lambda: len(viewers[1].frames) > 0, 10, "frames (connected)")
        await viewers[1].close()
        await eventually(lambda: worker.hub.stats()["sessions"] == 1, 10, "pc close noticed")
        viewers[1] = await open_viewer(live.client, cid, token)
        assert worker.hub.stats()["sessions"] == 2
    finally:
        for v in viewers:
            await v.close()
        await worker.close()
        await stop_live_api(live)
