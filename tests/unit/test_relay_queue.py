"""The relay's per-consumer send queue: bounded in bytes, video dropped oldest-first, control
never dropped, one writer task, ``put`` never awaits."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from beholder._compat.uvicorn import RawChannel
from beholder.realtime.relay.queue import Packet, SendQueue, binary_frame
from support.polling import eventually


class GatedSend:
    """An ASGI send that records events and blocks while ``gate`` is clear (a slow peer)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.events: list[dict[str, Any]] = []

    async def __call__(self, event: dict[str, Any]) -> None:
        await self.gate.wait()
        self.events.append(event)

    def payloads(self) -> list[str | bytes]:
        return [e.get("text", e.get("bytes")) for e in self.events]


def video(n: int, size: int = 1000) -> Packet:
    return Packet(bytes([n % 256]) * size, video=True)


def control(name: str) -> Packet:
    return Packet(f'{{"type":"{name}"}}', video=False)


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_binary_frame_matches_websockets_serializer(size: int) -> None:
    payload = b"\xff" * size
    assert binary_frame(payload) == Frame(Opcode.BINARY, payload).serialize(mask=False)


async def test_delivers_in_order_and_counts() -> None:
    send = GatedSend()
    q = SendQueue(send, None, limit=10_000)
    q.start()
    for p in (control("a"), video(1), video(2), control("b")):
        assert q.put(p)
    await eventually(lambda: len(send.events) == 4, 5, "four sends")
    assert send.payloads() == ['{"type":"a"}', b"\x01" * 1000, b"\x02" * 1000, '{"type":"b"}']
    assert (q.sent, q.frames_sent, q.frames_dropped, q.queued_bytes) == (4, 2, 0, 0)
    await q.close()


async def test_slow_consumer_drops_oldest_video_keeps_control_and_latest() -> None:
    send = GatedSend()
    send.gate.clear()  # the peer does not read
    dropped: list[int] = []
    q = SendQueue(send, None, limit=3500, on_dropped=dropped.append)
    q.start()
    q.put(video(0))
    await eventually(lambda: len(q) == 0, 5, "the first frame in flight")  # held by send
    for n in range(1, 11):
        q.put(video(n))
        if n == 5:
            q.put(control("alert"))
    # bound 3500 bytes, ~1004 bytes a frame: only the 3 newest frames stay, with the alert
    assert q.queued_bytes <= 3500 + 20
    assert q.frames_dropped == 7 and sum(dropped) == 7
    send.gate.set()
    await eventually(lambda: len(send.events) == 5, 5, "the rest")
    assert send.payloads() == [
        b"\x00" * 1000,
        '{"type":"alert"}',
        b"\x08" * 1000,
        b"\x09" * 1000,
        b"\x0a" * 1000,
    ]
    assert q.frames_sent == 4
    await q.close()


async def test_control_is_never_dropped_even_over_the_bound() -> None:
    send = GatedSend()
    send.gate.clear()
    q = SendQueue(send, None, limit=100)
    q.start()
    for n in range(50):
        q.put(control(f"c{n}"))
    q.put(video(1))  # over the bound on its own: kept, it is the latest
    assert len(q) == 51
    assert q.over_bound > 0 and q.frames_dropped == 0
    q.put(video(2))  # drops video 1, never a control packet
    assert q.frames_dropped == 1 and len(q) == 51
    send.gate.set()
    await eventually(lambda: len(send.events) == 51, 5, "every control packet")
    assert send.payloads()[-1] == b"\x02" * 1000
    await q.close()


async def test_put_never_awaits_and_close_discards() -> None:
    send = GatedSend()
    send.gate.clear()
    q = SendQueue(send, None, limit=10_000_000)
    q.start()
    for n in range(1000):  # synchronous: would deadlock if put awaited the peer
        q.put(video(n, 100))
    assert q.queued > 0
    await q.close()
    assert q.queued_bytes == 0 and len(q) == 0
    assert not q.put(video(1))


async def test_writer_stops_when_send_fails() -> None:
    async def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("peer gone")

    q = SendQueue(broken, None, limit=10_000)
    q.start()
    q.put(control("x"))
    await eventually(lambda: q._task is not None and q._task.done(), 5, "the writer to stop")
    assert q.queued_bytes == 0
    await q.close()


# -- the raw fast path (uvicorn's sans-I/O protocol) ---------------------------------------


class FakeTransport:
    """A transport whose write buffer holds what was written until ``drain`` (a peer that
    reads only when told), with flow control like asyncio's: over ``high`` bytes it pauses
    the protocol (``writable`` cleared), ``drain`` resumes it."""

    def __init__(self, high: int) -> None:
        self.buffer: list[bytes] = []
        self.delivered: list[bytes] = []
        self.closing = False
        self.high = high
        self.writable = asyncio.Event()
        self.writable.set()

    def write(self, data: bytes) -> None:
        self.buffer.append(data)
        if self.get_write_buffer_size() > self.high:
            self.writable.clear()  # pause_writing

    def writelines(self, data: list[bytes]) -> None:
        for chunk in data:
            self.write(chunk)

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = True

    def get_write_buffer_size(self) -> int:
        return sum(map(len, self.buffer))

    def drain(self) -> None:
        self.delivered.extend(self.buffer)
        self.buffer.clear()
        self.writable.set()  # resume_writing


def raw_queue(limit: int, transport_bytes: int) -> tuple[SendQueue, FakeTransport]:
    transport = FakeTransport(high=500)
    protocol = SimpleNamespace(state=State.OPEN)
    raw = RawChannel(transport, transport.writable, cast(ServerProtocol, protocol))

    async def no_asgi(event: dict[str, Any]) -> None:
        raise AssertionError("the raw path does not use ASGI sends")

    q = SendQueue(no_asgi, raw, limit=limit, transport_bytes=transport_bytes)
    return q, transport


async def flush(q: SendQueue, transport: FakeTransport) -> None:
    """The peer reads everything: drain the transport until the writer emptied the queue."""

    def flushed() -> bool:
        transport.drain()  # resumes the writer when it waits for room
        return len(q) == 0 and not transport.buffer

    await eventually(flushed, 5, "the queue to flush", every=0)


async def test_raw_path_writes_directly_without_the_writer_task() -> None:
    q, transport = raw_queue(limit=10_000, transport_bytes=5_000)
    # not started: a consumer that keeps up is written to synchronously in put
    for n in range(3):
        assert q.put(video(n))
        transport.drain()
    assert q.put(control("a"))
    transport.drain()
    assert transport.delivered == [video(n).frame for n in range(3)] + [control("a").frame]
    assert (q.sent, q.frames_sent, len(q)) == (4, 3, 0)


async def test_raw_path_queues_beyond_the_transport_room_and_drops_oldest() -> None:
    q, transport = raw_queue(limit=6_000, transport_bytes=3_000)
    q.start()
    for n in range(10):  # the peer does not read
        q.put(video(n))
        if n == 5:
            q.put(control("alert"))
    # 2 frames (~2 KB) went to the transport, the rest waits here, bounded in total
    assert transport.get_write_buffer_size() <= 3_000
    assert q.queued_bytes <= 6_000 + 20
    assert q.frames_dropped > 0
    await flush(q, transport)  # the peer reads again: the writer empties the queue
    out = transport.delivered
    assert control("alert").frame in out  # control is never dropped
    frames = [f for f in out if f != control("alert").frame]
    assert frames[:2] == [video(0).frame, video(1).frame]
    assert frames[-1] == video(9).frame  # latest wins
    assert q.frames_sent + q.frames_dropped == 10
    await q.close()


async def test_raw_path_keeps_order_while_packets_wait() -> None:
    q, transport = raw_queue(limit=100_000, transport_bytes=1_500)
    q.start()
    q.put(video(1))  # direct: the transport was empty
    q.put(video(2))  # no room (and paused): queued
    transport.buffer.clear()  # room again, but video 2 waits, so video 3 must queue behind
    transport.delivered.append(video(1).frame)
    q.put(video(3))
    assert len(q) == 2
    await flush(q, transport)
    assert transport.delivered == [video(n).frame for n in (1, 2, 3)]
    await q.close()
