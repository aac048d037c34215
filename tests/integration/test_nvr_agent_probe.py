"""The NVR agent's RTSP probe against the real GStreamer RTSP server: a mount that exists
answers with its codec and resolution, one that does not is ``not-found``, wrong or missing
credentials are ``unauthorized`` (Basic and Digest), and a dead, silent or garbage port is
``refused`` / ``timeout`` / ``protocol`` — never an exception."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from beholder.nvr.agent.probe import ProbeError, Prober, probe
from fixtures.rtsp_server import JunkServer, RtspServer, free_port
from support.sockets import listener

pytestmark = pytest.mark.rtsp


async def test_open_server(rtsp_camera: RtspServer) -> None:
    two = await probe(rtsp_camera.url("two"), 5)
    assert two.reachable and two.error is None
    assert (two.codec, two.width, two.height) == ("H264", 480, 270)
    assert two.latency_ms is not None and two.latency_ms >= 0
    walk = await probe(rtsp_camera.url("walk"), 5)
    assert (walk.codec, walk.width, walk.height) == ("H264", 768, 432)
    missing = await probe(rtsp_camera.url("nope"), 5)
    assert not missing.reachable
    assert (missing.error, missing.status) == (ProbeError.NOT_FOUND, 404)


@pytest.mark.parametrize("method", ["basic", "digest"])
async def test_credentials(
    method: str,
    rtsp_server_factory: Callable[..., RtspServer],
    rtsp_media: dict[str, Path],
) -> None:
    server = rtsp_server_factory(
        {"two": rtsp_media["two"]}, auth=("viewer", "pa:ss@word"), auth_method=method
    )
    good = await probe(server.url("two", user="viewer", password="pa%3Ass%40word"), 5)
    assert good.reachable, good
    assert good.codec == "H264"
    wrong = await probe(server.url("two", user="viewer", password="wrong"), 5)
    assert (wrong.reachable, wrong.error, wrong.status) == (False, ProbeError.UNAUTHORIZED, 401)
    anonymous = await probe(server.url("two"), 5)
    assert anonymous.error == ProbeError.UNAUTHORIZED
    assert "pa" not in wrong.detail


async def test_network_failures(rtsp_junk: JunkServer) -> None:
    refused = await probe(f"rtsp://127.0.0.1:{free_port()}/x", 2)
    assert refused.error == ProbeError.REFUSED
    junk = await probe(rtsp_junk.url(), 2)
    assert junk.error == ProbeError.PROTOCOL
    with listener() as sock:  # connects (kernel backlog) but never answers
        port = sock.getsockname()[1]
        silent = await probe(f"rtsp://127.0.0.1:{port}/x", 0.3)
    assert silent.error == ProbeError.TIMEOUT
    assert (await probe("http://127.0.0.1/x", 1)).error == ProbeError.PROTOCOL


async def test_paused_server_times_out(rtsp_private_camera: RtspServer) -> None:
    assert (await probe(rtsp_private_camera.url("two"), 5)).reachable
    rtsp_private_camera.pause()
    try:
        stalled = await probe(rtsp_private_camera.url("two"), 0.5)
    finally:
        rtsp_private_camera.resume()
    assert stalled.error == ProbeError.TIMEOUT


async def test_prober_bounds_concurrency(rtsp_camera: RtspServer) -> None:
    prober = Prober(timeout=5, concurrency=2)
    urls = {n: rtsp_camera.url("two" if n % 2 else "nope") for n in range(1, 9)}
    results = await prober.many(urls)
    assert [n for n, r in results.items() if r.reachable] == [1, 3, 5, 7]
    assert {r.error for n, r in results.items() if not r.reachable} == {ProbeError.NOT_FOUND}
