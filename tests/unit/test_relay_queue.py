"""The relay's per-consumer send queue: bounded in bytes, video dropped oldest-first, control
never dropped, one writer task, ``put`` never awaits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.frames import Frame, Opcode

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
