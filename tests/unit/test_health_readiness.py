"""Readiness of an api instance from its health checks (:mod:`beholder.health`)."""

from __future__ import annotations

from typing import Any

from beholder.health import HealthChecker, HealthStatus

H, U = HealthStatus.HEALTHY, HealthStatus.UNHEALTHY


def _checker(status: dict[str, HealthStatus]) -> HealthChecker:
    def check(name: str) -> Any:
        async def run() -> tuple[HealthStatus, dict[str, Any]]:
            return status[name], {}

        return run

    return HealthChecker({name: check(name) for name in status}, interval=10)


async def test_a_database_outage_after_start_up_leaves_the_instance_ready_but_unhealthy() -> None:
    status = {"database": U, "bus": H, "websocket": H}
    checker = _checker(status)
    # Never reached the database: not ready (no migration check, no reconcile yet).
    assert (await checker.check_now())["ready"] is False
    status["database"] = H
    assert (await checker.check_now())["ready"] is True
    # Every instance shares the outage: out of the load balancer, live view and the hub
    # would go with it. Health still says so.
    status["database"] = U
    snap = await checker.check_now()
    assert snap["ready"] is True
    assert snap["overall"] == "UNHEALTHY"
    assert snap["services"]["database"]["status"] == "UNHEALTHY"


async def test_the_instances_own_hub_or_bus_failing_makes_it_unready() -> None:
    status = {"database": H, "bus": H, "websocket": H}
    checker = _checker(status)
    assert (await checker.check_now())["ready"] is True
    status["websocket"] = U
    assert (await checker.check_now())["ready"] is False
    status["websocket"], status["bus"] = H, U
    assert (await checker.check_now())["ready"] is False
    status["bus"] = H
    assert (await checker.check_now())["ready"] is True
