"""beholder._compat: every hook into a library's private API is active on the pinned versions,
the security hook fails closed and the speed hooks warn once (issue 8, item 6)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import aioice.ice
import av
import av.container.core
import pytest
import uvicorn
import websockets
from aioice import Candidate
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

import beholder._compat
from beholder._compat import HookUnavailable
from beholder._compat import aioice as compat_aioice
from beholder._compat.av import Interrupter
from beholder._compat.starlette import server_send
from beholder._compat.uvicorn import _SANSIO_MODULE, raw_channel
from beholder.worker.egress import ice


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget which one-time warnings were logged (they are per process)."""
    monkeypatch.setattr(beholder._compat, "_warned", set())


# -- PyAV ------------------------------------------------------------------------------------


def test_av_interrupt_clock_is_installed() -> None:
    assert Interrupter.install()
    assert Interrupter.available() and Interrupter.active()


def test_av_interrupt_aborts_a_blocked_open_on_demand() -> None:
    """A peer that accepts and never answers blocks ``av.open`` for its whole timeout (60 s);
    with the hook, setting the stop event returns it at once."""
    assert Interrupter.install()
    stop = threading.Event()
    outcome: list[BaseException | None] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(30)
        port = listener.getsockname()[1]

        def blocked_open() -> None:
            with Interrupter.watch(stop):
                try:
                    av.open(
                        f"rtsp://127.0.0.1:{port}/x",
                        options={"rtsp_transport": "tcp"},
                        timeout=60.0,
                    ).close()
                    outcome.append(None)
                except BaseException as exc:
                    outcome.append(exc)

        thread = threading.Thread(target=blocked_open, daemon=True)
        thread.start()
        peer, _ = listener.accept()  # FFmpeg is now waiting for an RTSP reply
        with peer:
            t0 = time.monotonic()
            stop.set()
            thread.join(timeout=20)
            elapsed = time.monotonic() - t0
    assert not thread.is_alive()
    assert outcome and isinstance(outcome[0], av.error.FFmpegError)
    assert elapsed < 20  # far below the 60 s open timeout


def test_av_hook_that_cannot_install_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fresh_warnings: None
) -> None:
    monkeypatch.setattr(Interrupter, "_clock", None)
    monkeypatch.delattr(av.container.core, "time")
    with caplog.at_level(logging.WARNING, logger="beholder._compat"):
        assert not Interrupter.install()
        assert not Interrupter.install()
    warnings = [r for r in caplog.records if "PyAV internals changed" in r.getMessage()]
    assert len(warnings) == 1
    assert not Interrupter.available()
    with Interrupter.watch(threading.Event()):  # still usable: a no-op
        pass


# -- Starlette + uvicorn (hub fast path) -----------------------------------------------------


@contextlib.asynccontextmanager
async def _serve(app: Any) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        lifespan="off",
        log_config=None,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_hub_fast_path_hooks_are_active_under_uvicorn() -> None:
    """Through Starlette's exception middleware to uvicorn's sans-I/O protocol: the server's
    ``send`` is found and a raw channel is available (what the hub's fast path needs)."""
    found: dict[str, Any] = {}

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        send = server_send(websocket)
        found["owner_module"] = type(getattr(send, "__self__", None)).__module__
        channel = raw_channel(send)
        found["channel"] = channel
        if channel is not None:
            channel.transport.write(b"\x81\x02hi")  # a pre-framed text frame, unmasked
        await websocket.receive_text()
        await websocket.close()

    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
    async with (
        _serve(app) as port,
        websockets.connect(f"ws://127.0.0.1:{port}/ws", compression=None) as ws,
    ):
        assert await asyncio.wait_for(ws.recv(), 10) == "hi"
        await ws.send("bye")
    assert found["owner_module"] == _SANSIO_MODULE
    assert found["channel"] is not None


async def test_raw_channel_changed_uvicorn_warns_once(
    caplog: pytest.LogCaptureFixture, fresh_warnings: None
) -> None:
    class WebSocketsSansIOProtocol:  # uvicorn's class, with its private attributes gone
        async def send(self, message: Any) -> None:
            return None

    WebSocketsSansIOProtocol.__module__ = _SANSIO_MODULE
    proto = WebSocketsSansIOProtocol()
    with caplog.at_level(logging.WARNING, logger="beholder._compat"):
        assert raw_channel(proto.send) is None
        assert raw_channel(proto.send) is None
    assert len([r for r in caplog.records if "uvicorn internals changed" in r.getMessage()]) == 1


def test_server_send_changed_starlette_warns_once(
    caplog: pytest.LogCaptureFixture, fresh_warnings: None
) -> None:
    class NotStarlette:
        pass

    with caplog.at_level(logging.WARNING, logger="beholder._compat"):
        assert server_send(NotStarlette()) is None  # type: ignore[arg-type]
        assert server_send(NotStarlette()) is None  # type: ignore[arg-type]
    assert len([r for r in caplog.records if "Starlette internals" in r.getMessage()]) == 1


# -- aioice (ICE address policy; fails closed) -----------------------------------------------


async def _peer_pair() -> tuple[RTCPeerConnection, RTCPeerConnection]:
    offerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    offerer.addTransceiver("video", direction="recvonly")
    with ice.host_addresses(["127.0.0.1"]):
        await offerer.setLocalDescription(await offerer.createOffer())
    answerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    await answerer.setRemoteDescription(
        RTCSessionDescription(sdp=offerer.localDescription.sdp, type="offer")
    )
    return offerer, answerer


def test_host_address_hook_is_installed() -> None:
    compat_aioice.install_host_address_hook()
    assert compat_aioice.host_address_hook_active()
    with compat_aioice.host_addresses(["127.0.0.1"]):
        assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1"]


def test_host_address_hook_that_cannot_install_fails_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(compat_aioice, "_ORIGINAL", None)
    monkeypatch.delattr(aioice.ice, "get_host_addresses")
    with pytest.raises(HookUnavailable) as info:
        compat_aioice.install_host_address_hook()
    assert info.value.code == "SERVICE_UNAVAILABLE"


async def test_remote_candidate_guard_is_active() -> None:
    offerer, answerer = await _peer_pair()
    try:
        nets = [ipaddress.ip_network("127.0.0.0/8")]
        assert ice.guard_connection(answerer, nets) == 1
        (conn,) = compat_aioice.ice_connections(answerer)
        assert compat_aioice.is_guarded(conn)
        before = len(conn.remote_candidates)
        outside = Candidate("9", 1, "udp", 1, "192.0.2.7", 50000, "host")
        conn._add_remote_candidate(outside, "192.0.2.7")
        assert len(conn.remote_candidates) == before  # ignored
        inside = Candidate("8", 1, "udp", 1, "127.0.0.1", 50001, "host")
        conn._add_remote_candidate(inside, "127.0.0.1")
        assert [c.host for c in conn.remote_candidates][before:] == ["127.0.0.1"]
    finally:
        await answerer.close()
        await offerer.close()


@pytest.mark.parametrize("missing", ["_add_remote_candidate", "check_incoming"])
async def test_remote_candidate_guard_fails_closed(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    """An aioice without a guarded method refuses the viewer instead of running unguarded."""
    offerer, answerer = await _peer_pair()
    monkeypatch.delattr(aioice.ice.Connection, missing)
    try:
        nets = [ipaddress.ip_network("127.0.0.0/8")]
        with pytest.raises(HookUnavailable) as info:
            ice.guard_connection(answerer, nets)
        assert info.value.code == "SERVICE_UNAVAILABLE"
        (conn,) = compat_aioice.ice_connections(answerer)
        assert not compat_aioice.is_guarded(conn)
    finally:
        monkeypatch.undo()
        await answerer.close()
        await offerer.close()


async def test_remote_candidate_guard_fails_closed_without_ice_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    offerer, answerer = await _peer_pair()
    try:
        transport = answerer.getTransceivers()[0].sender.transport.transport
        monkeypatch.delattr(transport, "_connection")
        with pytest.raises(HookUnavailable):
            ice.guard_connection(answerer, [ipaddress.ip_network("127.0.0.0/8")])
    finally:
        monkeypatch.undo()
        await answerer.close()
        await offerer.close()


# -- seccomp (refused RTSP redirects) ----------------------------------------------------------


def test_seccomp_forbids_connect_on_the_calling_thread_only() -> None:
    """The filter a refused redirect installs on its ingest thread: that thread can no longer
    connect (nor resolve a name), every other thread still can."""
    from beholder._compat import seccomp

    if not seccomp.supported():
        pytest.skip("seccomp filter is Linux x86_64/aarch64 only")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        outcome: list[object] = []

        def guarded() -> None:
            outcome.append(seccomp.deny_connect_in_this_thread())
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                outcome.append("connected")
            except OSError as exc:
                outcome.append(exc.errno)

        thread = threading.Thread(target=guarded)
        thread.start()
        thread.join(5)
        assert outcome == [True, errno.EPERM]
        socket.create_connection(("127.0.0.1", port), timeout=2).close()  # this thread: fine


# -- cancelling tasks whose cancel can be lost (Python 3.11 wait_for, inside nats-py) ---------


async def test_a_task_that_loses_its_first_cancel_is_cancelled_again_until_it_ends() -> None:
    from beholder._compat.cancel import cancel_and_wait

    lost = 0

    async def loses_one_cancel() -> None:
        nonlocal lost
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            lost += 1  # what 3.11's wait_for does when the cancel races a result
        await asyncio.Event().wait()  # runs on: only a second cancel ends it

    task = asyncio.create_task(loses_one_cancel())
    await asyncio.sleep(0)
    assert await cancel_and_wait([task], timeout=5) is True
    assert task.cancelled() and lost == 1


async def test_a_task_that_never_ends_is_given_up_after_the_timeout() -> None:
    from beholder._compat.cancel import cancel_and_wait

    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    assert await cancel_and_wait([task], timeout=0.3) is False
    assert not task.done()
    release.set()
    await task
