"""The scrape-time gauges the alert rules read, on the real app (SQLite and PostgreSQL) and
the real buses (in-memory and NATS)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from beholder.bus.base import BusMessage
from beholder.bus.memory import MemoryBus
from beholder.bus.nats import NatsBus
from beholder.config import BusSettings
from beholder.config.cluster import ClusterSettings
from beholder.contracts.cluster import MSG_ID_HEADER
from beholder.contracts.subjects import Subjects
from beholder.messages import new_id
from support.api import LiveApi, live_api
from support.live import create_camera
from support.nats import NatsServer
from support.polling import eventually
from support.settings import make_settings


async def _scrape(live: LiveApi) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = await live.client.get("/metrics")
    assert r.status_code == 200, r.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


async def test_cameras_by_status_db_pool_limit_and_snapshot_disk_are_scraped(
    api: LiveApi,
) -> None:
    await create_camera(api, "gate", "rtsp://10.20.0.10/a", status="ERROR")
    await create_camera(api, "yard", "rtsp://10.20.0.11/a", status="ERROR")
    await create_camera(api, "hall", "rtsp://10.20.0.12/a", status="PROCESSING")
    got = await _scrape(api)
    assert got[("beholder_cameras", (("status", "ERROR"),))] == 2
    assert got[("beholder_cameras", (("status", "PROCESSING"),))] == 1
    assert got[("beholder_cameras", (("status", "STOPPED"),))] == 0

    settings = api.settings
    postgres = api.state.db.dialect == "postgresql"
    limit = settings.db_pool_size + settings.db_max_overflow if postgres else 0
    assert got[("beholder_db_pool_size", ())] == limit
    assert got[("beholder_snapshot_disk_used_bytes", ())] > 0
    assert (
        got[("beholder_snapshot_disk_used_bytes", ())]
        <= got[("beholder_snapshot_disk_size_bytes", ())]
    )
    # The app under test runs no worker: its heartbeat age grows from start-up.
    assert got[("beholder_workers_alive", ())] == 0
    assert got[("beholder_worker_heartbeat_age_seconds", ())] > 0

    await create_camera(api, "gate-2", "rtsp://10.20.0.13/a", status="PROCESSING")
    got = await _scrape(api)
    assert got[("beholder_cameras", (("status", "PROCESSING"),))] == 2


@pytest.mark.parametrize("kind", ["memory", "nats"])
async def test_bus_pending_counts_messages_a_busy_consumer_has_not_handled(kind: str) -> None:
    bus = MemoryBus() if kind == "memory" else NatsBus("nats://127.0.0.1:4222")
    await bus.start()
    release = asyncio.Event()
    handled: list[bytes] = []

    async def slow(msg: BusMessage) -> None:
        await release.wait()
        handled.append(msg.data)

    subject = f"alerts.test.{new_id()}"
    try:
        await bus.subscribe(subject, slow)
        for i in range(6):
            await bus.publish(subject, str(i).encode())
        # One message is in the handler, the other five wait.
        await eventually(lambda: bus.stats()["pending"] == 5, 10, "5 pending messages")
        release.set()
        await eventually(lambda: len(handled) == 6, 10, "every message handled")
        assert bus.stats()["pending"] == 0
    finally:
        await bus.close()


async def test_a_consumer_group_far_behind_shows_its_jetstream_backlog(
    tmp_path: Path, nats_server: Callable[..., NatsServer]
) -> None:
    """JetStream hands the group at most ``max_ack_pending`` messages: past that the
    in-process figure stays at that window while the backlog shows the whole lag."""
    server = nats_server(f'jetstream {{ store_dir: "{tmp_path / "js"}" }}')
    cluster = ClusterSettings(max_ack_pending=5, consumer_concurrency=1)
    api, worker = NatsBus(server.url, cluster=cluster), NatsBus(server.url, cluster=cluster)
    await api.start()
    await worker.start()
    release = asyncio.Event()
    handled: list[bytes] = []

    async def slow(msg: BusMessage) -> None:
        await release.wait()
        handled.append(msg.data)

    async def backlog_is(n: int) -> bool:
        return await api.backlog() == {"api-beholder_events": n}

    try:
        await api.subscribe(Subjects.CAMERA_EVENTS, slow, queue="api")
        for i in range(40):
            await worker.publish(Subjects.CAMERA_EVENTS, b"%d" % i, {MSG_ID_HEADER: str(i)})
        await eventually(lambda: backlog_is(40), 10, "40 messages not acknowledged")
        assert api.stats()["pending"] <= 5
        release.set()
        await eventually(lambda: len(handled) == 40, 10, "every message handled")
        await eventually(lambda: backlog_is(0), 10, "the backlog drained")
    finally:
        release.set()
        await worker.close()
        await api.close()


async def test_the_api_scrape_shows_each_consumer_groups_backlog_until_nats_is_away(
    tmp_path: Path, nats_server: Callable[..., NatsServer]
) -> None:
    """Distributed mode: ``/metrics`` carries the backlog of both durable consumer groups and
    the outbox; with NATS gone the backlog series go (a stale figure would hold or hide
    BeholderBusStreamBacklog) and the scrape still answers."""
    server = nats_server(f'jetstream {{ store_dir: "{tmp_path / "js"}" }}')
    settings = make_settings(tmp_path, None, bus=BusSettings(url=server.url))
    async with live_api(settings) as live:
        got = await _scrape(live)
        for consumer in ("api-beholder_events", "api-beholder_status"):
            assert got[("beholder_bus_backlog_messages", (("consumer", consumer),))] == 0
        assert got[("beholder_bus_outbox_messages", ())] == 0

        server.stop()
        await eventually(live.state.bus.reconnecting, 10, "the api to notice NATS is gone")
        got = await _scrape(live)
        assert not [name for name, _ in got if name == "beholder_bus_backlog_messages"]
