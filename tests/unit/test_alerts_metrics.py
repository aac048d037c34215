"""The metrics added for the alert rules, computed from their sources (no server needed)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import REGISTRY

from beholder.bus.base import BusMessage
from beholder.health import HealthChecker, HealthStatus, WorkerTracker
from beholder.messages import WorkerHeartbeat
from beholder.worker.metrics import LIVE_VIEW


def _sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_health_failures_count_consecutive_unhealthy_checks_and_reset_on_a_pass() -> None:
    results = iter([False, False, False, True, False])

    async def flaky() -> tuple[HealthStatus, dict[str, Any]]:
        if next(results):
            return HealthStatus.HEALTHY, {}
        raise ConnectionError("refused")

    checker = HealthChecker({"alerts-unit-db": flaky}, interval=10)
    seen = []
    for _ in range(5):
        await checker.check_now()
        seen.append(_sample("beholder_health_check_failures", service="alerts-unit-db"))
    assert seen == [1, 2, 3, 0, 1]


async def test_a_degraded_service_is_not_a_failed_check() -> None:
    async def degraded() -> tuple[HealthStatus, dict[str, Any]]:
        return HealthStatus.DEGRADED, {"reason": "slow"}

    checker = HealthChecker({"alerts-unit-media": degraded}, interval=10)
    for _ in range(4):
        await checker.check_now()
    assert _sample("beholder_health_check_failures", service="alerts-unit-media") == 0


async def test_worker_heartbeat_age_grows_from_start_until_a_heartbeat_arrives() -> None:
    tracker = WorkerTracker(interval=5)
    tracker.started = time.monotonic() - 120  # an api up for 2 min that never heard a worker
    assert tracker.heartbeat_age() >= 120
    hb = WorkerHeartbeat(worker_id="w1", sessions=0)
    await tracker.on_heartbeat(BusMessage(subject="worker.heartbeat", data=hb.to_bytes()))
    assert tracker.heartbeat_age() < 60
    assert [w.worker_id for w in tracker.alive()] == ["w1"]


class _Hub:
    def __init__(self, sessions: int, errors: int, created: int, refused: int) -> None:
        self.session_count = sessions
        self.error_count = errors
        self._stats = {"sessionsCreated": created, "refused": refused}

    def stats(self) -> dict[str, object]:
        return self._stats


def test_live_view_figures_sum_every_hub_alive_in_the_process() -> None:
    names = (
        "beholder_live_view_sessions",
        "beholder_live_view_failures_total",
        "beholder_live_view_sessions_created_total",
        "beholder_live_view_refused_total",
    )
    before = [_sample(n) or 0.0 for n in names]
    a, b = _Hub(2, 3, 5, 1), _Hub(1, 4, 2, 0)
    LIVE_VIEW.track(a)
    LIVE_VIEW.track(b)
    try:
        after = [_sample(n) or 0.0 for n in names]
        assert [x - y for x, y in zip(after, before, strict=True)] == [3, 7, 7, 1]
    finally:
        LIVE_VIEW.untrack(a)
        LIVE_VIEW.untrack(b)
    assert [_sample(n) or 0.0 for n in names] == before
