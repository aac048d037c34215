"""The durable subjects (``camera.events``, ``stream.status``): at-least-once queue groups on
both buses, and on NATS JetStream what a failure must not lose: a member that dies before
acknowledging, a nats-server restart while events flow, concurrent start-up, a server
without JetStream, and the outbox's bound while NATS is away. Real private nats-servers."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from beholder.bus import Bus, BusMessage, MemoryBus
from beholder.bus.nats import NatsBus
from beholder.config.cluster import ClusterSettings
from beholder.contracts.cluster import MSG_ID_HEADER, Streams
from beholder.contracts.subjects import Subjects
from beholder.errors import BusError
from support.cluster import PrivateNats
from support.nats import NatsServer
from support.polling import eventually

FAST = ClusterSettings(ack_wait=1.0, max_deliver=5)


@pytest.fixture
def js_server() -> Iterator[PrivateNats]:
    """``nats-server -js`` of this test (stop/start keep its port and store)."""
    server = PrivateNats()
    server.start()
    yield server
    server.destroy()


@pytest.fixture
async def buses(js_server: PrivateNats) -> AsyncIterator[Callable[..., NatsBus]]:
    """``make(cluster=FAST)``: a NatsBus on the private server (not started), closed at end."""
    made: list[NatsBus] = []

    def make(cluster: ClusterSettings = FAST) -> NatsBus:
        bus = NatsBus(js_server.url, cluster=cluster, flush_timeout=1.0)
        made.append(bus)
        return bus

    yield make
    for bus in made:
        with contextlib.suppress(BusError):
            await bus.close()


async def _two_members(kind: str, make: Callable[..., NatsBus] | None) -> tuple[Bus, Bus]:
    """Two members of one queue group: two subscriptions on one memory bus, or two NATS
    connections (two api instances)."""
    if kind == "memory":
        bus = MemoryBus(max_deliver=5, redeliver_delay=0.2)
        await bus.start()
        return bus, bus
    assert make is not None
    a, b = make(), make()
    await asyncio.gather(a.start(), b.start())
    return a, b


@pytest.fixture(params=["memory", "nats"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def maker(kind: str, request: pytest.FixtureRequest) -> Callable[..., NatsBus] | None:
    return request.getfixturevalue("buses") if kind == "nats" else None  # type: ignore[no-any-return]


async def test_a_raising_handler_gets_the_message_again(
    kind: str, maker: Callable[..., NatsBus] | None
) -> None:
    bus, _ = await _two_members(kind, maker)
    seen: list[tuple[bytes, int]] = []

    async def flaky(msg: BusMessage) -> None:
        seen.append((msg.data, msg.delivery))
        if msg.delivery == 1:
            raise RuntimeError("database unavailable")

    await bus.subscribe(Subjects.CAMERA_EVENTS, flaky, queue="api")
    await bus.ping()
    await bus.publish(Subjects.CAMERA_EVENTS, b"alert-1", {MSG_ID_HEADER: "alert-1"})
    await eventually(lambda: len(seen) >= 2, 10, lambda: f"a redelivery, saw {seen}")
    assert seen[:2] == [(b"alert-1", 1), (b"alert-1", 2)]
    stats = bus.stats()
    assert stats["nacked"] == 1 and stats["redelivered"] >= 1 and stats["acked"] >= 1
    if kind == "memory":
        await bus.close()


async def test_queue_group_on_a_durable_subject_delivers_each_message_once(
    kind: str, maker: Callable[..., NatsBus] | None
) -> None:
    a, b = await _two_members(kind, maker)
    got: dict[str, list[str]] = {"a": [], "b": []}

    def collect(name: str) -> Callable[[BusMessage], object]:
        async def handler(msg: BusMessage) -> None:
            got[name].append(msg.data.decode())

        return handler

    await a.subscribe(Subjects.STREAM_STATUS, collect("a"), queue="api")  # type: ignore[arg-type]
    await b.subscribe(Subjects.STREAM_STATUS, collect("b"), queue="api")  # type: ignore[arg-type]
    await a.ping()
    await b.ping()
    for i in range(40):
        await a.publish(Subjects.STREAM_STATUS, str(i).encode(), {MSG_ID_HEADER: f"s{i}"})
    await eventually(lambda: len(got["a"]) + len(got["b"]) >= 40, 10, "40 deliveries")
    await asyncio.sleep(0.3)  # nothing more may come: a duplicate would show here
    assert sorted(got["a"] + got["b"], key=int) == [str(i) for i in range(40)]
    if kind == "memory":
        await a.close()


async def test_a_member_that_dies_before_ack_leaves_the_message_to_the_other(
    buses: Callable[..., NatsBus],
) -> None:
    doomed, survivor = buses(), buses()
    await doomed.start()
    took = asyncio.Event()
    redelivered: list[tuple[bytes, int]] = []

    async def stuck(msg: BusMessage) -> None:
        took.set()
        await asyncio.Event().wait()  # never returns: never acknowledged

    async def fine(msg: BusMessage) -> None:
        redelivered.append((msg.data, msg.delivery))

    await doomed.subscribe(Subjects.CAMERA_EVENTS, stuck, queue="api")
    await doomed.publish(Subjects.CAMERA_EVENTS, b"alert-x", {MSG_ID_HEADER: "alert-x"})
    await eventually(took.is_set, 5, "the doomed member to take the message")
    await survivor.start()
    await survivor.subscribe(Subjects.CAMERA_EVENTS, fine, queue="api")
    assert doomed._nc is not None
    await doomed._nc.close()  # the process dies: no ack, no drain
    await eventually(lambda: redelivered, 10, "the redelivery to the survivor after ack_wait")
    assert redelivered == [(b"alert-x", 2)]


async def _stream_ids(bus: NatsBus, stream: str) -> list[str]:
    js = bus.jetstream()
    info = await js.stream_info(stream)
    ids = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(stream, seq)
        ids.append((msg.headers or {})[MSG_ID_HEADER])
    return ids


async def test_a_nats_server_restart_loses_and_duplicates_nothing(
    js_server: PrivateNats, buses: Callable[..., NatsBus]
) -> None:
    publisher, consumer = buses(), buses()
    await asyncio.gather(publisher.start(), consumer.start())
    consumed: set[str] = set()

    async def handle(msg: BusMessage) -> None:
        consumed.add(msg.headers[MSG_ID_HEADER])

    await consumer.subscribe(Subjects.CAMERA_EVENTS, handle, queue="api")
    ids = [f"alert-{i:03d}" for i in range(300)]

    async def produce() -> None:
        for n, event_id in enumerate(ids):
            await publisher.publish(
                Subjects.CAMERA_EVENTS, event_id.encode(), {MSG_ID_HEADER: event_id}
            )
            if n < 50:  # a worker re-publishing after a timeout: the stream keeps one
                await publisher.publish(
                    Subjects.CAMERA_EVENTS, event_id.encode(), {MSG_ID_HEADER: event_id}
                )
            await asyncio.sleep(0.005)

    producing = asyncio.create_task(produce())
    await eventually(lambda: len(consumed) >= 60, 10, "events flowing before the restart")
    await asyncio.to_thread(js_server.stop)
    await eventually(lambda: publisher.stats()["outbox"] > 0, 5, "events queued while down")
    await asyncio.to_thread(js_server.start)
    await producing
    await eventually(
        lambda: consumed >= set(ids),
        30,
        lambda: f"every id consumed after the restart ({len(consumed)}/300)",
    )
    # re-sends whose first copy was stored (its PubAck lost in the restart) still drain
    await eventually(lambda: publisher.stats()["outbox"] == 0, 15, "the outbox to drain")
    stored = await _stream_ids(publisher, Streams.EVENTS.name)
    assert sorted(stored) == ids  # each id once: JetStream de-duplicated the re-sends


async def test_two_buses_starting_at_once_both_start_with_the_configured_streams(
    buses: Callable[..., NatsBus],
) -> None:
    cluster = ClusterSettings(stream_max_age=3600, stream_max_bytes=64 << 20, duplicate_window=30)
    a, b = buses(cluster), buses(cluster)
    await asyncio.gather(a.start(), b.start())
    for stream in Streams.ALL:
        config = (await a.jetstream().stream_info(stream.name)).config
        assert config.subjects == list(stream.subjects)
        assert config.max_age == 3600 and config.max_bytes == 64 << 20
        assert config.duplicate_window == 30
        assert str(config.storage) in {"file", "StorageType.FILE"}
    # a later instance with other limits updates them in place
    c = buses(ClusterSettings(stream_max_age=7200))
    await c.start()
    assert (await c.jetstream().stream_info(Streams.STATUS.name)).config.max_age == 7200


async def test_a_server_without_jetstream_is_refused_with_the_reason(
    nats_server: Callable[..., NatsServer],
) -> None:
    server = nats_server("", jetstream=False)
    bus = NatsBus(server.url)
    with pytest.raises(BusError) as caught:
        await bus.start()
    assert "has no JetStream; start it with -js" in caught.value.detail
    assert bus.reconnecting() is False


async def test_the_outbox_keeps_alerts_over_status_while_nats_is_away(
    js_server: PrivateNats, buses: Callable[..., NatsBus]
) -> None:
    bus = buses(ClusterSettings(outbox_max_messages=100))
    await bus.start()
    await asyncio.to_thread(js_server.stop)
    await eventually(bus.reconnecting, 5, "the bus to notice the server is gone")
    for i in range(60):
        await bus.publish(Subjects.STREAM_STATUS, b"s", {MSG_ID_HEADER: f"status-{i}"})
    for i in range(80):
        await bus.publish(Subjects.CAMERA_EVENTS, b"a", {MSG_ID_HEADER: f"alert-{i}"})
    stats = bus.stats()
    assert stats["outbox"] == 100 and stats["outboxDropped"] == 40
    await asyncio.to_thread(js_server.start)
    await eventually(lambda: bus.stats()["outbox"] == 0, 20, "the outbox to drain")
    alerts = await _stream_ids(bus, Streams.EVENTS.name)
    status = await _stream_ids(bus, Streams.STATUS.name)
    assert alerts == [f"alert-{i}" for i in range(80)]  # every alert, in order
    assert status == [f"status-{i}" for i in range(40, 60)]  # the 40 oldest status dropped


async def test_close_sends_what_the_outbox_holds_and_plain_subscribers_see_it_live(
    buses: Callable[..., NatsBus],
) -> None:
    worker, watcher = buses(), buses()
    await asyncio.gather(worker.start(), watcher.start())
    live: list[str] = []

    async def watch(msg: BusMessage) -> None:
        assert msg.reply is None  # JetStream's PubAck inbox is not a request's reply
        live.append(msg.headers[MSG_ID_HEADER])

    await watcher.subscribe(Subjects.STREAM_STATUS, watch)  # no queue: core, live
    await watcher.ping()
    ids = [f"stopped-{i}" for i in range(10)]
    for event_id in ids:
        await worker.publish(Subjects.STREAM_STATUS, b"STOPPED", {MSG_ID_HEADER: event_id})
    await worker.close()  # a stopping worker: its last events must reach the stream
    assert await _stream_ids(watcher, Streams.STATUS.name) == ids
    await eventually(lambda: live == ids, 5, lambda: f"the live copies, saw {live}")


async def test_a_server_that_lost_its_store_gets_streams_and_consumer_back(
    js_server: PrivateNats, buses: Callable[..., NatsBus]
) -> None:
    bus = buses()
    await bus.start()
    got: list[str] = []

    async def handle(msg: BusMessage) -> None:
        got.append(msg.headers[MSG_ID_HEADER])

    await bus.subscribe(Subjects.CAMERA_EVENTS, handle, queue="api")
    await asyncio.to_thread(js_server.stop)
    shutil.rmtree(js_server.root / "js")  # a new, empty JetStream store
    await asyncio.to_thread(js_server.start)
    await bus.publish(Subjects.CAMERA_EVENTS, b"a", {MSG_ID_HEADER: "after-wipe"})
    await eventually(lambda: got == ["after-wipe"], 20, lambda: f"the delivery, saw {got}")


async def test_a_slow_message_does_not_hold_up_the_next_ones(
    buses: Callable[..., NatsBus],
) -> None:
    """One api instance handles several durable messages at once: a status write stuck on a
    slow database must not hold every later alert behind it (the first message's handler
    waits until the second one has been handled, which one-at-a-time delivery never does)."""
    bus = buses(ClusterSettings(ack_wait=5.0, consumer_concurrency=4))
    await bus.start()
    second_handled = asyncio.Event()
    handled: list[bytes] = []

    async def handler(msg: BusMessage) -> None:
        if msg.data == b"first":
            await asyncio.wait_for(second_handled.wait(), 10)
        else:
            second_handled.set()
        handled.append(msg.data)

    await bus.subscribe(Subjects.CAMERA_EVENTS, handler, queue="api")
    for data in (b"first", b"second"):
        await bus.publish(Subjects.CAMERA_EVENTS, data, {MSG_ID_HEADER: data.decode()})
    await eventually(lambda: handled == [b"second", b"first"], timeout=15)
    assert bus.stats()["handlerErrors"] == 0
