"""What the api says and does while the database or the bus is unreachable (issue 14 item 8).

* :func:`bus_health`: the ``bus`` health check. While NATS is unreachable and the client
  reconnects, the service is ``DEGRADED`` (so the api stays ready and keeps serving reads)
  with ``details.reason`` and ``details.affected``: the features that need the bus.
* :func:`database_health`: the ``database`` health check with the alert queue's figures
  (``details.alertQueue``); while the database is unreachable it is ``UNHEALTHY`` with
  ``details.reason`` saying that alerts are kept and shown live. An answer again pokes the
  alert writer (no wait for the end of its backoff).
* :func:`require_bus`: raise ``ServiceUnavailable`` (503 in the one error shape, with
  ``Retry-After``) at once for a request that needs the bus while it is unreachable,
  rather than accept a command that cannot be delivered or wait for a reply that cannot
  come.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from beholder.api.state import AppState
from beholder.bus.base import Bus
from beholder.errors import ServiceUnavailable
from beholder.health import Check, HealthStatus

log = structlog.get_logger(__name__)

BUS_AFFECTED = (
    "camera commands",
    "live view",
    "camera status and alerts from workers",
    "hub fan-out across api instances",
)
"""What stops working while the bus is unreachable (camera lists, alert history, sign-in
and user management keep working: they only need the database)."""

BUS_REASON = (
    "The message bus is unreachable (reconnecting): camera commands, live view, camera "
    "status and alerts from workers, and dashboard updates across api instances are "
    "unavailable until it returns."
)
DATABASE_REASON = (
    "The database is unreachable: new alerts are kept in memory and shown live, and are "
    "stored when it returns; lists, sign-in and changes are unavailable."
)
RETRY_AFTER_S = 5
CHECK_TIMEOUT_S = 2.5
"""Below :class:`~beholder.health.HealthChecker`'s default 3 s limit per check."""


def bus_health(bus: Bus, check: Check) -> Check:
    """``check`` (the bus round trip), or ``DEGRADED`` with the reason while reconnecting."""

    async def degraded_aware() -> tuple[HealthStatus, dict[str, Any]]:
        if bus.reconnecting():
            details: dict[str, Any] = {
                "backend": bus.name,
                "reason": BUS_REASON,
                "affected": list(BUS_AFFECTED),
            }
            details.update(bus.stats())
            return HealthStatus.DEGRADED, details
        return await check()

    return degraded_aware


def database_health(state: AppState, check: Check) -> Check:
    """``check`` (the database round trip) with the alert queue's figures; ``UNHEALTHY``
    with the reason when it fails."""

    async def with_queue() -> tuple[HealthStatus, dict[str, Any]]:
        pending = state.pending_alerts
        queue = pending.stats() if pending is not None else None
        try:
            # Inside the checker's own limit, so that an unreachable host (connect timeout)
            # still reports the reason.
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                status, details = await check()
        except Exception as exc:  # what the checker would report, plus why it matters
            log.warning("database unreachable", error=type(exc).__name__)
            details = {"error": type(exc).__name__, "reason": DATABASE_REASON}
            if queue is not None:
                details["alertQueue"] = queue
            return HealthStatus.UNHEALTHY, details
        if pending is not None:
            details = {**details, "alertQueue": queue}
            if pending.backlog:
                pending.retry_now()
        return status, details

    return with_queue


def require_bus(state: AppState, feature: str) -> None:
    """Raise ``ServiceUnavailable`` (503, ``Retry-After``) when the bus is unreachable;
    ``feature`` names what the caller asked for (e.g. ``"Camera commands"``)."""
    if state.bus.reconnecting():
        raise ServiceUnavailable(
            f"{feature} are unavailable: the message bus is unreachable. "
            "Try again when system health is back to healthy.",
            detail=f"bus {state.bus.name} reconnecting",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
