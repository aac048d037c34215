"""The scrape-time gauges the alert rules read, on the real app (SQLite and PostgreSQL) and
the real buses (in-memory and NATS)."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families

from beholder.bus.base import BusMessage
from beholder.bus.memory import MemoryBus
from beholder.bus.nats import NatsBus
from beholder.messages import new_id
from support.api import LiveApi
from support.live import create_camera
from support.polling import eventually


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
