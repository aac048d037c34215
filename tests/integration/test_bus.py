"""Bus semantics on the in-memory bus and on the real NATS server."""

import socket
from collections.abc import AsyncIterator

import pytest

from beholder.bus import Bus, BusMessage, MemoryBus, subject_matches
from beholder.errors import BusError
from support.polling import eventually


def _nats_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(params=["memory", "nats"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    if request.param == "memory":
        b: Bus = MemoryBus()
    else:
        if not _nats_up():
            pytest.skip("NATS is not running on 127.0.0.1:4222")
        from beholder.bus.nats import NatsBus

        b = NatsBus("nats://127.0.0.1:4222")
    await b.start()
    yield b
    await b.close()


async def _collect(bus: Bus, subject: str, queue: str | None = None) -> list[bytes]:
    got: list[bytes] = []

    async def handler(msg: BusMessage) -> None:
        got.append(msg.data)

    await bus.subscribe(subject, handler, queue=queue)
    return got


async def _subscribed(bus: Bus) -> None:
    """Return once the bus has registered every subscription made so far (a ping round trip
    is answered after the server has processed earlier SUBs; the memory bus has them now)."""
    await bus.ping()


async def test_publish_reaches_every_plain_subscriber(bus: Bus) -> None:
    subject = f"t.{id(bus)}.fan"
    a, b = await _collect(bus, subject), await _collect(bus, subject)
    await _subscribed(bus)
    await bus.publish(subject, b"x")
    await eventually(lambda: a and b, 2, "both subscribers to get the message")
    assert a == [b"x"] and b == [b"x"]


async def test_queue_group_delivers_each_message_once(bus: Bus) -> None:
    subject = f"t.{id(bus)}.q"
    a, b = await _collect(bus, subject, "g"), await _collect(bus, subject, "g")
    await _subscribed(bus)
    for i in range(20):
        await bus.publish(subject, str(i).encode())
    await eventually(lambda: len(a) + len(b) >= 20, 2, "20 messages delivered")
    assert sorted(a + b, key=int) == [str(i).encode() for i in range(20)]


async def test_request_reply_and_no_responder(bus: Bus) -> None:
    subject = f"t.{id(bus)}.rr"

    async def echo(msg: BusMessage) -> None:
        await msg.respond(msg.data.upper())

    await bus.subscribe(subject, echo)
    await _subscribed(bus)
    assert await bus.request(subject, b"hi", timeout=2) == b"HI"
    with pytest.raises(BusError):
        await bus.request(f"t.{id(bus)}.nobody", b"?", timeout=0.3)


async def test_failing_handler_does_not_hurt_others(bus: Bus) -> None:
    subject = f"t.{id(bus)}.err"

    async def boom(msg: BusMessage) -> None:
        raise RuntimeError("handler bug")

    await bus.subscribe(subject, boom)
    ok = await _collect(bus, subject)
    await _subscribed(bus)
    await bus.publish(subject, b"1")
    await bus.publish(subject, b"2")
    await eventually(lambda: len(ok) >= 2, 2, "both messages past the failing handler")
    assert ok == [b"1", b"2"]


def test_subject_wildcards() -> None:
    assert subject_matches("camera.snapshot.*", "camera.snapshot.abc")
    assert not subject_matches("camera.snapshot.*", "camera.snapshot.a.b")
    assert subject_matches("camera.>", "camera.snapshot.a.b")
    assert not subject_matches("camera.>", "camera")
    assert not subject_matches("a.b", "a.c")
