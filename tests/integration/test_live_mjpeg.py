"""MJPEG fallback end to end: encoded once per camera in the worker, fanned out by the api."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from support.live import create_camera, live_env_fixture
from support.polling import eventually
from support.rtsp import TWO_FACES, WALKING, RtspServer, rtsp_fixture

pytestmark = [pytest.mark.rtsp, pytest.mark.slow]


rtsp = rtsp_fixture(two=TWO_FACES, walk=WALKING)


env = live_env_fixture(mjpeg_idle_timeout=2.0, mjpeg_max_fps=5.0)


async def read_parts(
    client: httpx.AsyncClient, url: str, n: int, out: list[tuple[float, bytes]]
) -> str:
    """Read ``n`` multipart JPEG parts from ``url`` into ``out``; returns the content type."""
    async with client.stream("GET", url) as r:
        assert r.status_code == 200, await r.aread()
        ctype = r.headers["content-type"]
        boundary = ctype.split("boundary=", 1)[1].encode()
        buf = b""
        async for chunk in r.aiter_bytes():
            buf += chunk
            while True:
                start = buf.find(b"--" + boundary + b"\r\n")
                head_end = buf.find(b"\r\n\r\n", start)
                if start < 0 or head_end < 0:
                    break
                headers = buf[start:head_end].decode()
                length = int(headers.split("Content-Length: ", 1)[1].split("\r\n", 1)[0])
                body_start = head_end + 4
                if len(buf) < body_start + length:
                    break
                out.append((time.monotonic(), buf[body_start : body_start + length]))
                buf = buf[body_start + length :]
                if len(out) >= n:
                    return ctype
    return ctype


@pytest.mark.parametrize("mount", ["two", "walk"])
async def test_mjpeg_two_clients_one_encoder(env: tuple, rtsp: RtspServer, mount: str) -> None:
    live, worker = env
    cid = await create_camera(live, mount, rtsp.url(mount))
    await worker.start_camera(cid, rtsp.url(mount))
    signed = await live.client.post(
        "/api/media/sign",
        json={"path": f"/api/cameras/{cid}/mjpeg"},
        headers=await live.headers("viewer"),
    )
    url = signed.json()["url"]  # a signed URL, as an <img src> would use
    a: list[tuple[float, bytes]] = []
    b: list[tuple[float, bytes]] = []
    t0 = time.monotonic()
    ctypes = await asyncio.gather(
        read_parts(live.client, url, 15, a), read_parts(live.client, url, 15, b)
    )
    elapsed = time.monotonic() - t0
    assert all(c.startswith("multipart/x-mixed-replace") for c in ctypes)
    for parts in (a, b):
        assert len(parts) == 15
        assert all(p.startswith(b"\xff\xd8") and p.endswith(b"\xff\xd9") for _, p in parts)
    assert elapsed > 15 / 5.0 * 0.7  # bounded at 5 fps
    st = worker.hub.stats()
    assert st["mjpegEncoders"] == 1  # one encoder for both clients
    assert st["cameras"][cid]["decodedFrames"] > 0
    # clients gone → the worker stops encoding after the idle timeout
    await eventually(lambda: worker.hub.stats()["mjpegEncoders"] == 0, 10, "encoder stopped")
    assert worker.hub.sources[cid]._pipeline is None
    assert worker.hub.error_count == 0


async def test_mjpeg_refusals(env: tuple, rtsp: RtspServer) -> None:
    live, _ = env
    cid = await create_camera(live, "orphan", rtsp.url("two"))
    r = await live.client.get(f"/api/cameras/{cid}/mjpeg")
    assert r.status_code == 401
    r = await live.client.get(f"/api/cameras/{cid}/mjpeg", headers=await live.headers("viewer"))
    assert r.status_code == 503 and r.json()["error"]["code"] == "STREAM_UNAVAILABLE"
