"""The relay ``/api/streams/ws`` over real sockets with a test store: uvicorn in-process, the
real :class:`Relay` on the memory bus, ``websockets`` clients (``support.relay``).

These tests are about the socket protocol (auth, routing, bad input, replacement,
heartbeat, revocation, backpressure); the database, the hub and the REST API are in
test_relay_api.py, two instances on NATS in test_relay_instances.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from beholder.auth.connections import EndReason
from beholder.bus.base import BusMessage
from beholder.contracts.bus import StreamDetectionCommand
from beholder.contracts.relay_frame import decode_frame, encode_frame
from beholder.contracts.wire import new_id
from support.polling import eventually
from support.relay import (
    PRINCIPALS,
    U1,
    U2,
    RelayFactory,
    closed_with,
    jpeg,
    next_frame,
    next_of,
    recv,
)

pytestmark = pytest.mark.timeout(60)


# -- sign-in -------------------------------------------------------------------------------


async def test_sign_in_refusals_close_1008(relay_factory: RelayFactory) -> None:
    srv = await relay_factory()
    for first in (None, {"type": "subscribe"}, {"type": "auth", "token": "nope"}):
        ws = await srv.connect(token=None)
        if first is not None:
            await ws.send(json.dumps(first))
        code, seen = await closed_with(ws)
        assert code == 1008 and ws.close_reason == "Unauthorized"
        assert seen[-1]["type"] == "error" and seen[-1]["error"]["code"] == "UNAUTHORIZED"
        assert set(seen[-1]["error"]) == {"code", "message", "severity", "correlationId"}
    # a key of another scope (worker) may not use the relay
    ws = await srv.connect(token=None)
    await ws.send(json.dumps({"type": "auth", "token": "worker"}))
    code, _ = await closed_with(ws)
    assert code == 1008


async def test_unauthenticated_sockets_per_address_are_capped(
    relay_factory: RelayFactory,
) -> None:
    srv = await relay_factory(unauthenticated=2, auth_timeout=30)
    waiting = [await srv.connect(token=None) for _ in range(2)]
    with pytest.raises(websockets.InvalidStatus) as refused:
        await srv.connect(token=None)
    assert refused.value.response.status_code == 429
    await waiting[0].send(json.dumps({"type": "auth", "token": "alice"}))
    assert (await recv(waiting[0]))["type"] == "auth-ok"  # signed in: its place is free
    third = await srv.connect()
    for ws in (*waiting, third):
        await ws.close()


async def test_token_in_sec_websocket_protocol(
    relay_factory: RelayFactory,
) -> None:
    srv = await relay_factory()
    for protocols in (["bearer", "alice"], ["beholder", "alice"]):
        ws = await websockets.connect(srv.url, subprotocols=protocols)  # type: ignore[arg-type]
        assert ws.subprotocol == protocols[0]
        ok = await recv(ws)
        assert ok["type"] == "auth-ok" and ok["principal"] == {"name": "alice", "role": "viewer"}
        await ws.close()


# -- the loop ------------------------------------------------------------------------------


@pytest.mark.parametrize("deflate", [False, True], ids=["raw", "asgi"])
async def test_frames_and_alerts_route_between_producer_and_consumers(
    relay_factory: RelayFactory, deflate: bool
) -> None:
    srv = await relay_factory(deflate=deflate)
    sid = srv.store.add()
    phone = await srv.producer(sid)
    dash = await srv.consumer(sid, binary=True)
    ml = await srv.consumer(sid, "ml-alice", "ml-service", produces=["alerts"])
    # binary in → binary to the binary consumer, JSON to the other
    await phone.send(encode_frame(sid, 1000, jpeg(1)))
    got = await next_frame(dash)
    assert isinstance(got, bytes)
    frame = decode_frame(got)
    assert (frame.stream_id, frame.timestamp_ms, bytes(frame.jpeg)) == (sid, 1000, jpeg(1))
    msg = await next_frame(ml)
    assert msg["type"] == "video-frame" and msg["streamId"] == sid and msg["seq"] == 1
    assert base64.b64decode(msg["data"]) == jpeg(1) and msg["timestamp"] == 1000
    # JSON in → the same both ways
    data = base64.b64encode(jpeg(2)).decode()
    await phone.send(
        json.dumps({"type": "video-frame", "streamId": sid, "data": data, "timestamp": 2000})
    )
    assert bytes(decode_frame(await next_frame(dash)).jpeg) == jpeg(2)
    assert (await next_frame(ml))["data"] == data
    # the stream went online, then streaming
    await eventually(
        lambda: srv.store.statuses == [(sid, "online"), (sid, "streaming")], 5, "statuses"
    )
    # an ML alert: stored with its source, then to the producer and the alert consumers
    await ml.send(
        json.dumps(
            {
                "type": "alert",
                "streamId": sid,
                "severity": "high",
                "message": "person",
                "metadata": {"confidence": 0.9, "box": [1, 2, 3, 4], "objectType": "person"},
                "timestamp": 3000,
            }
        )
    )
    for ws in (phone, dash, ml):
        alert = await next_of(ws, "alert")
        assert alert["message"] == "person", alert
        assert alert["source"] == PRINCIPALS["ml-alice"].key
        assert alert["metadata"]["box"] == [1, 2, 3, 4]
    assert [a.message for a in srv.store.alerts] == ["person"]
    counts = srv.relay.counts(sid)
    assert (counts.viewers, counts.ml_consumers, counts.producer) == (2, 1, True)
    for ws in (phone, dash, ml):
        await ws.close()


async def test_cleanup_on_producer_disconnect(
    relay_factory: RelayFactory,
) -> None:
    srv = await relay_factory()
    sid = srv.store.add()
    phone = await srv.producer(sid)
    dash = await srv.consumer(sid)
    await phone.send(encode_frame(sid, 1, jpeg()))
    await phone.close()
    seen = []
    while not seen or seen[-1] != "offline":
        msg = await recv(dash)
        if msg["type"] == "stream-status":
            seen.append(msg["status"])
            last_seen = msg["lastSeen"]
    assert seen[-1] == "offline" and last_seen is not None
    await eventually(lambda: srv.store.statuses[-1] == (sid, "offline"), 5, "offline stored")
    assert srv.store.streams[sid].last_seen_at is not None
    await eventually(lambda: not srv.relay.counts(sid).producer, 5, "producer gone")
    await dash.close()
    await eventually(lambda: srv.relay.router.streams() == [], 5, "routes pruned")


async def test_second_producer_replaces_the_first(
    relay_factory: RelayFactory,
) -> None:
    srv = await relay_factory()
    sid = srv.store.add()
    first = await srv.producer(sid)
    second = await srv.producer(sid, token="mobile-alice")
    code, seen = await closed_with(first)
    assert code == 4409
    assert {"type": "producer-replaced", "streamId": sid} in seen
    dash = await srv.consumer(sid, binary=True)
    await second.send(encode_frame(sid, 7, jpeg()))
    assert decode_frame(await next_frame(dash)).timestamp_ms == 7
    # the replaced producer's leaving does not take the stream offline
    assert (sid, "offline") not in srv.store.statuses
    # registering again on the same socket changes nothing (still streaming)
    await second.send(json.dumps({"type": "register", "clientType": "mobile", "streamId": sid}))
    assert await next_of(second, "registered") == {"type": "registered", "streamId": sid}
    await second.send(json.dumps({"type": "ping", "ts": 3}))
    await next_of(second, "pong")
    await srv.relay.status.idle()
    assert srv.store.statuses[-1] == (sid, "streaming")


# -- ownership -----------------------------------------------------------------------------


async def test_ownership_and_roles(
    relay_factory: RelayFactory,
) -> None:
    srv = await relay_factory()
    mine = srv.store.add(U1)
    bobs = srv.store.add(U2)

    async def refused(token: str, message: dict[str, Any]) -> str:
        ws = await srv.connect(token)
        await ws.send(json.dumps(message))
        reply = await recv(ws)
        assert reply["type"] == "error", reply
        await ws.close()
        return str(reply["error"]["code"])

    def sub(sid: str, kind: str = "dashboard", **kw: Any) -> dict[str, Any]:
        return {"type": "subscribe", "clientType": kind, "streamId": sid, **kw}

    def reg(sid: str) -> dict[str, Any]:
        return {"type": "register", "clientType": "mobile", "streamId": sid}

    assert await refused("alice", sub(bobs)) == "NOT_FOUND"  # someone else's: 404
    assert await refused("alice", reg(bobs)) == "NOT_FOUND"
    assert await refused("ml-alice", sub(bobs, "ml-service")) == "NOT_FOUND"
    assert await refused("alice", sub(new_id())) == "NOT_FOUND"  # no such stream
    assert await refused("ml-alice", reg(mine)) == "PERMISSION_DENIED"  # wrong scope
    assert await refused("mobile-alice", sub(mine, "ml-service")) == "PERMISSION_DENIED"
    assert await refused("alice", sub(mine, produces=["alerts"])) == "PERMISSION_DENIED"
    # what is allowed: the owner (viewer), its ml-service key, admin
    await (await srv.consumer(mine, "alice")).close()
    await (await srv.consumer(mine, "ml-alice", "ml-service", produces=["alerts"])).close()
    await (await srv.consumer(bobs, "admin")).close()
    # a dashboard that does not produce alerts may not send any
    dash = await srv.consumer(mine)
    await dash.send(
        json.dumps({"type": "alert", "streamId": mine, "severity": "low", "message": "x"})
    )
    reply = await next_of(dash, "error")
    assert reply["error"]["code"] == "PERMISSION_DENIED" and reply["streamId"] == mine
    assert srv.store.alerts == []


async def test_alerts_are_rate_limited_per_connection(relay_factory: RelayFactory) -> None:
    srv = await relay_factory(alerts_per_minute=2)
    sid = srv.store.add()
    ml = await srv.consumer(sid, "ml-alice", "ml-service", produces=["alerts"])
    alert = {"type": "alert", "streamId": sid, "severity": "low", "message": "m"}
    for _ in range(2):
        await ml.send(json.dumps(alert))
        assert (await next_of(ml, "alert"))["message"] == "m"
    await ml.send(json.dumps(alert))
    reply = await next_of(ml, "error")
    assert reply["error"]["code"] == "RATE_LIMIT_EXCEEDED" and reply["streamId"] == sid
    assert len(srv.store.alerts) == 2
    other = await srv.consumer(sid, "ml-alice", "ml-service", produces=["alerts"])
    await other.send(json.dumps(alert))  # another connection has its own budget
    assert (await next_of(other, "alert"))["message"] == "m"
    for ws in (ml, other):
        await ws.close()


async def test_revoked_key_is_closed_4401_and_others_stay(relay_factory: RelayFactory) -> None:
    srv = await relay_factory()
    sid = srv.store.add()
    ml = await srv.consumer(sid, "ml-alice", "ml-service")
    dash = await srv.consumer(sid)
    registry = srv.relay.connections
    assert registry is not None
    key = PRINCIPALS["ml-alice"]
    assert registry.end_principal(key.kind, key.id, EndReason.REVOKED) == 1
    code, seen = await closed_with(ml)
    assert code == 4401 and seen[-1]["error"]["code"] == "UNAUTHORIZED"
    await dash.send(json.dumps({"type": "ping", "ts": 1}))
    assert await next_of(dash, "pong") == {"type": "pong", "ts": 1}
    await eventually(lambda: srv.relay.counts(sid).ml_consumers == 0, 5, "ml consumer gone")


async def test_connections_per_principal_are_bounded(
    relay_factory: RelayFactory,
) -> None:
    srv = await relay_factory(max_connections_per_principal=2)
    first, second = await srv.connect("bob"), await srv.connect("bob")
    third = await srv.connect(None)
    await third.send(json.dumps({"type": "auth", "token": "bob"}))
    code, seen = await closed_with(third)
    assert code == 1008 and seen[-1]["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    await first.close()
    await eventually(lambda: len(srv.relay.peers) == 1, 5, "the first socket forgotten")
    fourth = await srv.connect("bob")  # a place came free
    for ws in (second, fourth):
        await ws.close()


# -- bad input -----------------------------------------------------------------------------


async def test_bad_input_answers_an_error_and_affects_nobody_else(
    relay_factory: RelayFactory,
) -> None:
    srv = await relay_factory(max_frame_bytes=16 * 1024)
    sid = srv.store.add()
    other = srv.store.add()
    phone = await srv.producer(sid)
    dash = await srv.consumer(sid, binary=True)
    big = jpeg(size=20 * 1024)
    cases: list[tuple[str | bytes, str]] = [
        ("{not json", "INVALID_INPUT"),
        (json.dumps({"type": "teleport"}), "INVALID_INPUT"),
        (json.dumps([1, 2]), "INVALID_INPUT"),
        (json.dumps({"type": "register", "streamId": "x"}), "INVALID_INPUT"),
        (encode_frame(other, 1, jpeg()), "PERMISSION_DENIED"),  # not its stream
        (encode_frame(sid, 1, big), "FRAME_TOO_LARGE"),
        (encode_frame(sid, 1, b"GIF89a" + b"x" * 100), "INVALID_FRAME"),
        (b"\x01\x01", "INVALID_FRAME"),  # shorter than the header
        (
            json.dumps({"type": "video-frame", "streamId": sid, "data": "!!!!", "timestamp": 1}),
            "INVALID_FRAME",
        ),
        (
            json.dumps(
                {
                    "type": "video-frame",
                    "streamId": sid,
                    "data": base64.b64encode(big).decode(),
                    "timestamp": 1,
                }
            ),
            "FRAME_TOO_LARGE",
        ),
        (
            json.dumps(
                {
                    "type": "video-frame",
                    "streamId": sid,
                    "data": base64.b64encode(b"nope").decode(),
                    "timestamp": 1,
                }
            ),
            "INVALID_FRAME",
        ),
    ]
    for payload, code in cases:
        await phone.send(payload)
        reply = await next_of(phone, "error")
        assert reply["type"] == "error", (payload[:40], reply)
        assert reply["error"]["code"] == code, (payload[:60], reply)
    # still open, still the producer; the consumer saw none of it and gets the next frame
    await phone.send(json.dumps({"type": "ping", "ts": 5}))
    assert await next_of(phone, "pong") == {"type": "pong", "ts": 5}
    await phone.send(encode_frame(sid, 99, jpeg()))
    assert decode_frame(await next_frame(dash)).timestamp_ms == 99


async def test_repeated_abuse_closes_1008(relay_factory: RelayFactory) -> None:
    srv = await relay_factory()
    ws = await srv.connect()
    for _ in range(60):
        await ws.send("{bad")
    code, _ = await closed_with(ws)
    assert code == 1008


# -- heartbeat -----------------------------------------------------------------------------


async def test_silent_producer_is_dropped_and_the_stream_goes_offline(
    relay_factory: RelayFactory,
) -> None:
    srv = await relay_factory(ping_interval=0.2, missed_pongs=2)
    sid = srv.store.add()
    phone = await srv.producer(sid)  # never answers pings from here on
    dash = await srv.consumer(sid)

    async def answer_pings() -> None:
        while True:
            msg = await recv(dash, skip_pings=False)
            if msg.get("type") == "ping":
                await dash.send(json.dumps({"type": "pong", "ts": msg["ts"]}))

    keeper = asyncio.create_task(answer_pings())
    code, _ = await closed_with(phone, timeout=10)
    assert code == 4408
    await eventually(lambda: (sid, "offline") in srv.store.statuses, 5, "offline")
    assert not keeper.done()  # the live consumer is still connected
    keeper.cancel()
    await dash.close()


# -- backpressure --------------------------------------------------------------------------


@pytest.mark.parametrize("deflate", [False, True], ids=["raw", "asgi"])
async def test_slow_consumer_gets_recent_frames_and_slows_nobody(
    relay_factory: RelayFactory, deflate: bool
) -> None:
    limit = 1024 * 1024
    srv = await relay_factory(
        consumer_queue_bytes=limit, max_frame_bytes=256 * 1024, deflate=deflate
    )
    sid = srv.store.add()
    phone = await srv.producer(sid)
    fast = [await srv.consumer(sid, binary=True) for _ in range(10)]
    slow = await srv.consumer(sid, binary=True, max_size=None)
    slow.transport.pause_reading()  # never reads again: the server's buffers fill up
    n = 150
    got: list[list[int]] = [[] for _ in fast]

    async def read(i: int, ws: ClientConnection) -> None:
        while len(got[i]) < n:
            got[i].append(decode_frame(await next_frame(ws, timeout=20)).timestamp_ms)

    readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(fast)]
    t0 = time.perf_counter()
    for ts in range(n):
        # lock-step with the fast consumers: the slow one must never hold the producer up
        await phone.send(encode_frame(sid, ts, jpeg(ts, 100_000)))
        await eventually(
            lambda ts=ts: all(len(g) > ts for g in got),
            10,
            lambda: f"fast consumers {[len(g) for g in got]} {[r.done() for r in readers]}",
            every=0.002,
        )
    send_s = time.perf_counter() - t0
    await asyncio.wait_for(asyncio.gather(*readers), 30)
    assert all(g == list(range(n)) for g in got)  # fast consumers: every frame, in order
    figures = {f.connection_id: f for f in srv.relay.consumers(sid)}
    slow_fig = max(figures.values(), key=lambda f: f.frames_dropped)
    assert slow_fig.frames_dropped > 0
    assert slow_fig.queued_bytes <= limit + 200_000  # bounded (+ one frame in flight)
    assert send_s < 60
    # once it reads again it gets only recent frames, the newest last
    slow.transport.resume_reading()
    seen: list[int] = []
    while not seen or seen[-1] != n - 1:
        seen.append(decode_frame(await next_frame(slow, timeout=10)).timestamp_ms)
    assert len(seen) < n and seen == sorted(seen)


# -- built-in detector ---------------------------------------------------------------------


async def test_frames_of_detected_streams_go_on_the_bus_at_the_detector_rate(
    relay_factory: RelayFactory,
) -> None:
    srv = await relay_factory(detect_fps=0.001)  # one frame, then none for a long while
    sid, plain = srv.store.add(), srv.store.add()
    srv.store.streams[sid].face_detection_enabled = True
    bus = srv.relay.link.bus
    published: list[tuple[str, bytes]] = []

    async def seen(msg: BusMessage) -> None:
        published.append((msg.subject, msg.data))

    await bus.subscribe("relay.frames.*", seen)
    phone = await srv.producer(sid)
    other = await srv.producer(plain)
    await phone.send(encode_frame(sid, 1, jpeg(1)))
    await other.send(encode_frame(plain, 1, jpeg(1)))
    await eventually(lambda: published, 5, "the detector's frame")
    assert published == [(f"relay.frames.{sid}", encode_frame(sid, 1, jpeg(1)))]
    for ts in range(2, 5):  # within 1/detect_fps: not published again
        await phone.send(encode_frame(sid, ts, jpeg(ts)))
    # switched on for the other stream by the api's command
    await bus.publish(
        "stream.detection", StreamDetectionCommand(stream_id=plain, enabled=True).to_bytes()
    )
    await eventually(lambda: plain in srv.relay.detector.streams, 5, "the command applied")
    await other.send(encode_frame(plain, 9, jpeg(9)))
    await eventually(lambda: len(published) == 2, 5, "the other stream's frame")
    assert published[1][0] == f"relay.frames.{plain}"
    for ws in (phone, other):
        await ws.close()
