"""Distributed mode on a three-node NATS cluster (``BEHOLDER_BUS_URL`` listing the three
servers, every stream and KV bucket on three replicas): losing one node — the leader of the
alert stream, then the node a publisher is connected to — loses and duplicates no alert, and
a lease's compare-and-set keeps working. Real ``nats-server`` processes, ``kill -9``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
from nats.errors import Error as NatsError

from beholder.bus import BusMessage
from beholder.bus.kv import KvBucket
from beholder.bus.nats import NatsBus
from beholder.config.cluster import ClusterSettings
from beholder.contracts.cluster import MSG_ID_HEADER, Buckets, Streams
from beholder.contracts.subjects import Subjects
from beholder.errors import BusError
from support.nats_cluster import NatsCluster
from support.polling import eventually

pytestmark = pytest.mark.slow

REPLICATED = ClusterSettings(ack_wait=1.0, max_deliver=5, stream_replicas=3)


@pytest.fixture
def nats3() -> Iterator[NatsCluster]:
    cluster = NatsCluster(3)
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture
async def buses(nats3: NatsCluster) -> AsyncIterator[tuple[NatsBus, NatsBus]]:
    """A worker's bus (publisher) and an api's (consumer) on the cluster, started once
    JetStream has elected its meta leader (a fresh cluster answers 'temporarily
    unavailable' for a few seconds)."""
    made = (
        NatsBus(nats3.url, cluster=REPLICATED, flush_timeout=1.0),
        NatsBus(nats3.url, cluster=REPLICATED, flush_timeout=1.0),
    )

    async def started(bus: NatsBus) -> bool:
        try:
            await bus.start()
        except BusError:
            return False
        return True

    for bus in made:
        await eventually(lambda bus=bus: started(bus), 30, "JetStream on the 3-node cluster")
    yield made
    for bus in made:
        with contextlib.suppress(BusError):
            await bus.close()


async def _leader(bus: NatsBus, stream: str) -> str:
    info = await bus.jetstream().stream_info(stream)
    assert info.cluster is not None and info.cluster.leader, info
    assert len(info.cluster.replicas or []) == 2, info.cluster  # leader + 2 replicas
    return str(info.cluster.leader)


def _node_at(nats3: NatsCluster, server: str | None) -> str:
    assert server is not None
    port = int(server.rsplit(":", 1)[1])
    return next(n.name for n in nats3.nodes if n.port == port)


async def test_losing_any_one_node_loses_and_duplicates_no_alert(
    nats3: NatsCluster, buses: tuple[NatsBus, NatsBus]
) -> None:
    publisher, consumer = buses
    consumed: set[str] = set()

    async def handle(msg: BusMessage) -> None:
        consumed.add(msg.headers[MSG_ID_HEADER])

    await consumer.subscribe(Subjects.CAMERA_EVENTS, handle, queue="api")
    ids = [f"alert-{i:03d}" for i in range(400)]

    async def produce() -> None:
        for event_id in ids:
            await publisher.publish(
                Subjects.CAMERA_EVENTS, event_id.encode(), {MSG_ID_HEADER: event_id}
            )
            await asyncio.sleep(0.01)

    producing = asyncio.create_task(produce())
    try:
        await eventually(lambda: len(consumed) >= 50, 15, "alerts flowing")
        leader = await _leader(publisher, Streams.EVENTS.name)
        await asyncio.to_thread(nats3.kill, leader)
        await eventually(
            lambda: len(consumed) >= 150,
            30,
            lambda: f"alerts after {leader} died ({len(consumed)})",
        )
        await asyncio.to_thread(nats3.start, leader)

        # Now the node the worker publishes through (it fails over to another server).
        server = await eventually(lambda: publisher.connected_server, 10, "a connected publisher")
        via = _node_at(nats3, server)
        await asyncio.to_thread(nats3.kill, via)

        def failed_over() -> bool:
            now = publisher.connected_server
            return now is not None and _node_at(nats3, now) != via

        await eventually(failed_over, 20, f"the publisher on another node than {via}")
        await eventually(lambda: len(consumed) >= 250, 30, f"alerts after {via} died")
        await producing
    finally:
        producing.cancel()
    await eventually(
        lambda: consumed >= set(ids), 30, lambda: f"every alert consumed ({len(consumed)}/400)"
    )
    await eventually(lambda: publisher.stats()["outbox"] == 0, 15, "the outbox to drain")
    stored: list[int] = []

    async def each_stored_once() -> bool:
        try:  # the stream may still be electing the leader the last kill took
            async with asyncio.timeout(2):
                info = await publisher.jetstream().stream_info(Streams.EVENTS.name)
        except (NatsError, TimeoutError):
            return False
        stored.append(info.state.messages)
        return info.state.messages == len(ids)  # re-sends de-duplicated by id

    await eventually(each_stored_once, 30, lambda: f"{len(ids)} alerts stored, not {stored[-3:]}")


async def test_a_lease_compare_and_set_survives_its_buckets_leader(
    nats3: NatsCluster, buses: tuple[NatsBus, NatsBus]
) -> None:
    worker_a, worker_b = buses
    leases_a = await KvBucket.open(worker_a.jetstream(), Buckets.LEASES, ttl=10, replicas=3)
    leases_b = await KvBucket.open(worker_b.jetstream(), Buckets.LEASES, ttl=10, replicas=3)
    revision = await leases_a.create("camera.c1", b"worker-a")
    assert revision is not None
    assert await leases_b.create("camera.c1", b"worker-b") is None  # held

    leader = await _leader(worker_a, f"KV_{Buckets.LEASES}")
    await asyncio.to_thread(nats3.kill, leader)

    async def renewed() -> int | None:
        try:
            return await leases_a.update("camera.c1", b"worker-a", revision)
        except BusError:
            return None  # the bucket elects a new leader

    renewal = await eventually(renewed, 30, f"a lease renewal after {leader} died")
    # The old revision no longer wins: still one holder.
    assert await leases_b.update("camera.c1", b"worker-b", revision) is None
    entry = await leases_b.get("camera.c1")
    assert entry is not None and entry.value == b"worker-a" and entry.revision == renewal
