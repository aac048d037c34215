"""The bounded alert queue kept while the database is down (beholder.api.alert_queue)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from beholder.api.alert_queue import AlertQueue, AlertWriter, QueuedAlert
from beholder.errors import DatabaseError
from support.polling import eventually


def _item(n: int, size: int = 100) -> QueuedAlert[int]:
    return QueuedAlert(f"alert-{n}", n, size)


def _dropped_metric(reason: str) -> float:
    value = REGISTRY.get_sample_value("beholder_alert_queue_dropped_total", {"reason": reason})
    return value or 0.0


def test_the_count_bound_drops_the_oldest_and_counts_each_drop() -> None:
    q: AlertQueue[int] = AlertQueue(max_alerts=3, max_bytes=10_000)
    before = _dropped_metric("overflow")
    for n in range(5):
        q.put(_item(n))
    assert len(q) == 3
    order = []
    while (item := q.oldest()) is not None:
        order.append(item.payload)
        q.remove(item.alert_id)
    assert order == [2, 3, 4]  # the newest kept, in the order queued
    assert q.dropped == {"overflow": 2}
    assert _dropped_metric("overflow") - before == 2
    assert q.stats()["droppedTotal"] == 2 and q.stats()["writtenTotal"] == 3


def test_the_byte_bound_drops_as_many_old_alerts_as_the_new_one_needs() -> None:
    q: AlertQueue[int] = AlertQueue(max_alerts=100, max_bytes=1000)
    for n in range(4):
        q.put(_item(n, size=250))
    assert q.bytes == 1000
    dropped = q.put(_item(9, size=600))
    assert [d.payload for d in dropped] == [0, 1, 2]
    assert q.bytes == 850 and len(q) == 2


def test_an_alert_larger_than_the_whole_bound_is_refused_and_counted() -> None:
    q: AlertQueue[int] = AlertQueue(max_alerts=10, max_bytes=1000)
    q.put(_item(1))
    dropped = q.put(_item(2, size=5000))
    assert [d.payload for d in dropped] == [2]
    assert len(q) == 1 and q.dropped == {"too-large": 1}


def test_an_id_queued_twice_is_kept_once_in_its_first_place() -> None:
    q: AlertQueue[int] = AlertQueue(max_alerts=10, max_bytes=10_000)
    q.put(_item(1))
    q.put(_item(2))
    assert q.put(QueuedAlert("alert-1", 99, 100)) == []
    assert len(q) == 2
    first = q.oldest()
    assert first is not None and first.payload == 1


async def test_the_writer_retries_while_the_database_fails_then_writes_in_order() -> None:
    q: AlertQueue[int] = AlertQueue(max_alerts=100, max_bytes=100_000)
    down = True
    attempts = 0
    stored: list[int] = []

    async def write(n: int) -> bool:
        nonlocal attempts
        attempts += 1
        if down:
            raise DatabaseError(detail="connection refused")
        stored.append(n)
        return True

    writer = AlertWriter(q, write, retry_initial=0.01, retry_max=0.05)
    writer.start()
    try:
        for n in range(20):
            q.put(_item(n))
        await eventually(lambda: attempts >= 3, 5, "a few failed attempts")
        assert stored == [] and len(q) == 20  # nothing lost while it fails
        down = False
        writer.poke()
        await eventually(lambda: len(q) == 0, 5, "the queue to drain")
        assert stored == list(range(20))
        assert writer.last_drain is not None and writer.last_drain["written"] == 20
        q.put(_item(100))  # a later outage-free alert still goes through
        await eventually(lambda: stored[-1:] == [100], 5, "a later alert")
    finally:
        await writer.stop(flush_timeout=0)


async def test_an_alert_refused_for_good_is_dropped_and_does_not_block_the_rest() -> None:
    q: AlertQueue[int] = AlertQueue(max_alerts=100, max_bytes=100_000)
    stored: list[int] = []

    async def write(n: int) -> bool:
        if n == 1:
            return False  # e.g. its camera was deleted meanwhile
        if n == 2:
            raise ValueError("a bug for this one alert")
        stored.append(n)
        return True

    writer = AlertWriter(q, write, retry_initial=0.01, retry_max=0.05)
    writer.start()
    try:
        for n in range(4):
            q.put(_item(n))
        await eventually(lambda: len(q) == 0, 5, "the queue to drain")
        assert stored == [0, 3]
        assert q.dropped == {"refused": 2}
    finally:
        await writer.stop(flush_timeout=0)


@pytest.mark.parametrize("database_up", [True, False])
async def test_stop_writes_what_it_can_and_counts_the_rest(database_up: bool) -> None:
    q: AlertQueue[int] = AlertQueue(max_alerts=100, max_bytes=100_000)
    stored: list[int] = []

    async def write(n: int) -> bool:
        if not database_up:
            raise DatabaseError(detail="connection refused")
        stored.append(n)
        return True

    writer = AlertWriter(q, write, retry_initial=10, retry_max=10)
    for n in range(3):
        q.put(_item(n))
    await writer.stop(flush_timeout=1)
    assert len(q) == 0
    if database_up:
        assert stored == [0, 1, 2] and q.dropped == {}
    else:
        assert stored == [] and q.dropped == {"shutdown": 3}
