"""Property-based pass over the hub ``/ws`` protocol against the real app under uvicorn.

Each example opens a raw socket, upgrades it and sends a random session of frames: protocol
messages in and out of order (before and after ``auth``), random JSON, deeply nested and
oversized payloads, binary frames, invalid UTF-8 in text frames, unmasked, fragmented and
reserved-opcode frames. After each one the server must have logged no error (no traceback,
no ``hub connection failed``), forgotten the connection, and still deliver a broadcast to a
dashboard that stayed connected all along; over the whole run its memory must stay bounded.
Issue 9 (fuzz pass of the WebSocket protocols; the mobile relay does not exist yet).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import structlog
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from beholder.config import HubSettings
from beholder.server import uvicorn_config
from support.polling import wait_until
from support.settings import ADMIN_PASSWORD, make_settings

pytestmark = pytest.mark.timeout(180)

MAX_MESSAGE = 4096  # the server's ws_max_message_bytes here: bigger payloads are "huge"
RSS_GROWTH_LIMIT = 64 * 1024 * 1024


@dataclass
class Server:
    """The app under uvicorn in its own thread and loop."""

    port: int
    loop: asyncio.AbstractEventLoop
    app: Any
    token: str
    errors: list[str]

    @property
    def hub(self) -> Any:
        return self.app.state.beholder.hub

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the server's loop and return its result."""

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)


class _Errors(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(f"{record.name}: {record.getMessage()} exc={record.exc_info!r}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from beholder.api.app import create_app

    hub = HubSettings(
        ws_max_message_bytes=MAX_MESSAGE,
        ws_auth_timeout=2.0,
        ws_backlog_bytes=256 * 1024,
        ws_unauthenticated_per_client=64,
    )
    cfg = make_settings(Path(tmp_path_factory.mktemp("wsfuzz")), hub=hub)
    app = create_app(cfg)
    uv = uvicorn.Server(uvicorn_config(app, cfg))
    uv.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        loops.append(asyncio.get_running_loop())
        await uv.serve()

    errors: list[str] = []
    handler = _Errors(errors)
    logging.getLogger().addHandler(handler)
    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    try:
        with structlog.testing.capture_logs() as events:
            thread.start()
            wait_until(lambda: uv.started, 10, "uvicorn to start", every=0.025)
            r = httpx.post(
                f"http://127.0.0.1:{cfg.port}/api/auth/login",
                json={"username": "admin", "password": ADMIN_PASSWORD},
            )
            srv = Server(cfg.port, loops[0], app, r.json()["accessToken"], errors)
            yield srv
            errors.extend(
                f"{e.get('event')} {e.get('exc_info', '')}"
                for e in events
                if e.get("log_level") in ("error", "critical", "exception")
            )
    finally:
        uv.should_exit = True
        thread.join(15)
        logging.getLogger().removeHandler(handler)
    assert errors == [], errors


# -- a raw WebSocket client: any frame, even the ones a library refuses to send -------------


def _handshake(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head[:200]
    return sock


def _frame(opcode: int, payload: bytes, fin: bool = True, masked: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        header = bytes((first, mask_bit | n))
    elif n < 65536:
        header = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, n)
    if not masked:
        return header + payload
    key = os.urandom(4)
    return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def _drain(sock: socket.socket, timeout: float) -> None:
    """Read until the server closes the TCP connection (or ``timeout`` seconds pass)."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and sock.recv(65536):
            pass
    except OSError:
        pass


# -- strategies ----------------------------------------------------------------------------

TYPES = ["auth", "subscribe", "unsubscribe", "replay", "ping", "pong", "nonsense", ""]
TOPICS = st.sampled_from(["cameras", "alerts", "health", "nvrs", "stats", "camera:c1", "x"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(TYPES))
    message: dict[str, Any] = {"type": kind}
    if kind == "auth":
        message["token"] = draw(st.sampled_from(["<token>", "bad", "", None, 7]))
    if kind in ("subscribe", "unsubscribe"):
        message["topics"] = draw(st.lists(TOPICS, max_size=5) | json_values)
    if kind in ("replay", "subscribe", "auth") and draw(st.booleans()):
        message["lastAlertId"] = draw(st.text(max_size=140) | json_values)
    message.update(draw(st.dictionaries(st.sampled_from(["a", "b", "topics"]), json_values)))
    return message


def _text(payload: str) -> tuple[int, bytes, bool, bool]:
    return (0x1, payload.encode(), True, True)


frames = st.one_of(
    messages().map(lambda m: ("msg", m)),
    json_values.map(lambda v: _text(json.dumps(v))),  # valid JSON, not a message
    st.text(max_size=64).map(_text),  # mostly not JSON
    st.integers(1, 3000).map(lambda d: _text("[" * d + "]" * d)),  # deep nesting
    st.integers(1, 3000).map(lambda d: _text('{"a":' * d + "1" + "}" * d)),
    st.integers(MAX_MESSAGE - 16, MAX_MESSAGE * 4).map(lambda n: _text(" " * n)),  # huge
    st.binary(max_size=256).map(lambda b: (0x2, b, True, True)),  # binary
    st.binary(min_size=1, max_size=16).map(lambda b: (0x1, b"\xff" + b, True, True)),  # bad UTF-8
    st.tuples(
        st.sampled_from([0x0, 0x1, 0x3, 0x7, 0xB, 0x9, 0xA]),  # continuation, reserved, ping, pong
        st.binary(max_size=32),
        st.booleans(),
        st.booleans(),  # unmasked: a protocol error from a client
    ),
)


def _encode(frame: Any, token: str) -> bytes:
    if frame[0] == "msg":
        message = dict(frame[1])
        if message.get("token") == "<token>":
            message["token"] = token
        opcode, payload, fin, masked = _text(json.dumps(message))
    else:
        opcode, payload, fin, masked = frame
    return _frame(opcode, payload, fin, masked)


# -- the property --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def observer(server: Server) -> Iterator[ClientConnection]:
    with connect(f"ws://127.0.0.1:{server.port}/ws", max_size=None) as ws:
        ws.send(json.dumps({"type": "auth", "token": server.token}))
        assert json.loads(ws.recv(5))["type"] == "auth-ok"
        ws.send(json.dumps({"type": "subscribe", "topics": ["alerts"]}))
        assert json.loads(ws.recv(5))["type"] == "subscribed"
        yield ws


def _still_delivers(server: Server, observer: ClientConnection, n: int) -> None:
    marker = {"type": "face-detection-alert", "id": f"marker-{n}", "cameraId": None}
    assert server.call(server.hub.broadcast, "alerts", marker) >= 1
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        message = json.loads(observer.recv(10))
        if message.get("id") == marker["id"]:
            return
    pytest.fail("the observer stopped receiving broadcasts")


def test_hub_survives_random_sessions(server: Server, observer: ClientConnection) -> None:
    proc = psutil.Process()
    rss: list[int] = []
    count = [0]

    @settings(
        max_examples=int(os.environ.get("BEHOLDER_FUZZ_EXAMPLES", "60")),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=True,
    )
    @given(authed_first=st.booleans(), session=st.lists(frames, min_size=1, max_size=8))
    def one_session(authed_first: bool, session: list[Any]) -> None:
        count[0] += 1
        sock = _handshake(server.port)
        try:
            if authed_first:
                sock.sendall(
                    _frame(0x1, json.dumps({"type": "auth", "token": server.token}).encode())
                )
            for frame in session:
                try:
                    sock.sendall(_encode(frame, server.token))
                except OSError:  # the server closed on an earlier frame: fine
                    break
            with contextlib.suppress(OSError):
                sock.sendall(_frame(0x8, struct.pack("!H", 1000)))
            _drain(sock, 5)
        finally:
            sock.close()
        wait_until(
            lambda: server.call(lambda: server.hub.stats()["connections"]) == 1,
            10,
            "the fuzzed connection to be forgotten",
            every=0.01,
        )
        _still_delivers(server, observer, count[0])
        assert server.errors == [], server.errors
        if count[0] == 10:
            rss.append(proc.memory_info().rss)

    one_session()
    rss.append(proc.memory_info().rss)
    stats = server.call(server.hub.stats)
    assert stats["unauthenticated"] == 0 and stats["backlogged"] == 0
    # the sessions reached past the handshake: refused sign-ins and refused messages
    assert stats["authFailures"] > 0 and stats["invalidMessages"] > 0, stats
    if len(rss) == 2:  # growth after warm-up: bounded (nothing kept per closed connection)
        assert rss[1] - rss[0] < RSS_GROWTH_LIMIT, (rss, stats)


def test_invalid_utf8_text_closes_1007_quietly(server: Server) -> None:
    """RFC 6455 §8.1: a text message that is not UTF-8 fails the connection with 1007; the
    server logs no error for it (uvicorn alone logs a traceback per such frame)."""
    sock = _handshake(server.port)
    try:
        auth = {"type": "auth", "token": server.token}
        sock.sendall(_frame(0x1, json.dumps(auth).encode()))
        sock.sendall(_frame(0x1, b'{"type": "ping", "x": "\xff"}'))
        sock.settimeout(5)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        close = data.rfind(b"\x88")  # the last frame: close, unmasked, 2-byte code + reason
        assert close >= 0, data[-64:]
        assert struct.unpack("!H", data[close + 2 : close + 4])[0] == 1007
    finally:
        sock.close()
    assert server.errors == []
