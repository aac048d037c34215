"""Health checker: database, worker, websocket hub, bus and media, every ``health_interval`` s.

Each check yields a :class:`ServiceHealth` (status, response time in ms, details). The
overall status is the worst of the services, with non-critical failures counting as
DEGRADED. ``ready`` is true once every critical service is HEALTHY or DEGRADED, and stays
true through an outage of a :data:`SHARED` backend that was up before (see there).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import structlog

from beholder.bus.base import Bus, BusMessage
from beholder.messages import WorkerHeartbeat, iso_z, utcnow
from beholder.observability import HEALTH_FAILURES, HEALTH_STATUS

log = structlog.get_logger(__name__)


class HealthStatus(StrEnum):
    UNKNOWN = "UNKNOWN"
    STARTING = "STARTING"
    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    UNHEALTHY = "UNHEALTHY"


_ORDER = {
    HealthStatus.HEALTHY: 0,
    HealthStatus.DEGRADED: 1,
    HealthStatus.STARTING: 2,
    HealthStatus.UNKNOWN: 3,
    HealthStatus.UNHEALTHY: 4,
}
_GAUGE = {
    HealthStatus.UNKNOWN: 0,
    HealthStatus.STARTING: 1,
    HealthStatus.HEALTHY: 2,
    HealthStatus.DEGRADED: 3,
    HealthStatus.UNHEALTHY: 4,
}

_UP = frozenset({HealthStatus.HEALTHY, HealthStatus.DEGRADED})

SERVICES = ("database", "worker", "websocket", "bus", "media")
CRITICAL = frozenset({"database", "websocket", "bus"})
SHARED = frozenset({"database"})
"""Critical backends every api instance shares. Before one was ever up the instance is not
ready (no migration check, no reconcile yet); once it was, its outage leaves the instance
ready while health says UNHEALTHY: every instance sees the same outage, and taking them all
out of the load balancer would turn a partial outage (reads and writes fail with 503, but
live view, the hub and alerts kept in memory go on) into a total one. The bus needs no such
rule: its outage is DEGRADED (:mod:`beholder.api.degradation`)."""


@dataclass(slots=True)
class ServiceHealth:
    """One service's last check. ``response_time_ms`` is how long the check took."""

    name: str
    status: HealthStatus = HealthStatus.UNKNOWN
    response_time_ms: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    last_checked: str | None = None
    critical: bool = False

    def to_wire(self) -> dict[str, Any]:
        """:class:`~beholder.contracts.resources.ServiceHealthOut`: the original plan's
        names (``name``, ``status``, ``responseTime`` ms, ``lastCheck``, ``details``) and
        the earlier ``responseTimeMs``/``lastChecked`` (same values) for existing clients."""
        return {
            "name": self.name,
            "status": self.status.value,
            "responseTime": self.response_time_ms,
            "lastCheck": self.last_checked,
            "details": self.details,
            "responseTimeMs": self.response_time_ms,
            "lastChecked": self.last_checked,
            "critical": self.critical,
        }


Check = Callable[[], Awaitable[tuple[HealthStatus, dict[str, Any]]]]


@dataclass(slots=True, frozen=True)
class WorkerView:
    """One worker as the api last heard it: its latest heartbeat, whether it is ``alive``
    (heard within the liveness grace) and when the heartbeat arrived (``received_at``, UTC;
    the api's clock, not the worker's)."""

    heartbeat: WorkerHeartbeat
    alive: bool
    received_at: datetime

    def to_wire(self) -> dict[str, Any]:
        """:class:`~beholder.api.schemas.WorkerOut` (camelCase): ``workerId``, ``alive``,
        ``cameraIds``, ``sessions``, ``leases``, ``cpuPercent`` (% of one core),
        ``detectorLoad`` (0–1), ``droppedSamples``, ``egressSessions``, ``egressErrors``,
        ``lastHeartbeat`` and ``startedAt`` (ISO 8601 UTC; ``startedAt`` may be null)."""
        hb = self.heartbeat
        return {
            "workerId": hb.worker_id,
            "alive": self.alive,
            "cameraIds": list(hb.camera_ids),
            "sessions": hb.sessions,
            "leases": hb.leases,
            "cpuPercent": hb.cpu_percent,
            "detectorLoad": hb.detector_load,
            "droppedSamples": hb.dropped_samples,
            "egressSessions": hb.egress_sessions,
            "egressErrors": hb.egress_errors,
            "lastHeartbeat": iso_z(self.received_at),
            "startedAt": iso_z(hb.started_at) if hb.started_at is not None else None,
        }


STALE_LISTED_FOR = 300.0
"""Seconds a worker that stopped heartbeating stays listed (``alive`` false) before it is
forgotten: long enough for an operator to see which worker died, short enough that a
cluster whose workers come and go does not list every worker it ever had."""


class WorkerTracker:
    """Remembers worker heartbeats seen on the bus (``worker.heartbeat``), on every api
    instance.

    A worker is alive while its latest heartbeat is at most three ``interval`` s old (the
    liveness grace); after that it is listed as stale (``alive`` false) for ``forget_after``
    s more, then dropped. ``last_seen``: ``time.monotonic()`` of the latest heartbeat from
    any worker (``None`` before the first); ``started``: when this tracker was created.
    """

    def __init__(self, interval: float, forget_after: float = STALE_LISTED_FOR) -> None:
        self.interval = interval
        self.forget_after = forget_after
        self.workers: dict[str, tuple[float, datetime, WorkerHeartbeat]] = {}
        self.started = time.monotonic()
        self.last_seen: float | None = None

    async def on_heartbeat(self, msg: BusMessage) -> None:
        try:
            hb = WorkerHeartbeat.from_bytes(msg.data)
        except ValueError:
            log.warning("malformed worker heartbeat dropped")
            return
        self.last_seen = time.monotonic()
        self.workers[hb.worker_id] = (self.last_seen, utcnow(), hb)

    def heartbeat_age(self) -> float:
        """Seconds since the latest heartbeat of any worker; since start-up if none yet
        (an api that never heard a worker is as worker-less as one that stopped hearing)."""
        return time.monotonic() - (self.last_seen if self.last_seen is not None else self.started)

    def _horizon(self) -> float:
        """Monotonic time before which a heartbeat is too old for its worker to be alive."""
        return time.monotonic() - 3 * self.interval

    def alive(self) -> list[WorkerHeartbeat]:
        """Workers heard from within three heartbeat intervals."""
        return [v.heartbeat for v in self.listing() if v.alive]

    def listing(self) -> list[WorkerView]:
        """Every worker heard from within the grace plus ``forget_after`` s (older ones are
        forgotten here), alive ones first, then by worker id."""
        horizon = self._horizon()
        forget = horizon - self.forget_after
        self.workers = {k: v for k, v in self.workers.items() if v[0] >= forget}
        views = [
            WorkerView(heartbeat=hb, alive=seen >= horizon, received_at=at)
            for seen, at, hb in self.workers.values()
        ]
        return sorted(views, key=lambda v: (not v.alive, v.heartbeat.worker_id))


class HealthChecker:
    """Runs the checks periodically and notifies ``on_change(snapshot)`` when anything changes.

    ``checks`` maps a service name to a coroutine returning (status, details); each check is
    bounded by ``timeout`` seconds (a hung check reports UNHEALTHY).
    """

    def __init__(
        self,
        checks: dict[str, Check],
        interval: float,
        on_change: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
        timeout: float = 3.0,
    ) -> None:
        self.checks = checks
        self.interval = interval
        self.timeout = timeout
        self.on_change = on_change
        self.results: dict[str, ServiceHealth] = {
            name: ServiceHealth(name=name, critical=name in CRITICAL) for name in checks
        }
        self.failures: dict[str, int] = dict.fromkeys(checks, 0)
        self._was_up: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._last_signature: tuple[tuple[str, str], ...] | None = None

    async def _run_one(self, name: str) -> ServiceHealth:
        t0 = time.perf_counter()
        try:
            status, details = await asyncio.wait_for(self.checks[name](), self.timeout)
        except TimeoutError:
            status, details = HealthStatus.UNHEALTHY, {"error": "check timed out"}
        except Exception as exc:  # a failing check is a result, not a crash
            log.warning("health check failed", service=name, error=repr(exc))
            status, details = HealthStatus.UNHEALTHY, {"error": type(exc).__name__}
        return ServiceHealth(
            name=name,
            status=status,
            response_time_ms=round((time.perf_counter() - t0) * 1000, 2),
            details=details,
            last_checked=iso_z(utcnow()),
            critical=name in CRITICAL,
        )

    async def check_now(self) -> dict[str, Any]:
        """Run every check once, store the results and notify on change; returns snapshot."""
        names = list(self.checks)
        results = await asyncio.gather(*(self._run_one(n) for n in names))
        self.results = dict(zip(names, results, strict=True))
        for name, res in self.results.items():
            HEALTH_STATUS.labels(service=name).set(_GAUGE[res.status])
            # Consecutive failures, so that an alert can wait for N checks in a row whatever
            # the check interval (one slow check is noise, three are an outage).
            failed = res.status is HealthStatus.UNHEALTHY
            if res.status in _UP:
                self._was_up.add(name)
            self.failures[name] = self.failures.get(name, 0) + 1 if failed else 0
            HEALTH_FAILURES.labels(service=name).set(self.failures[name])
        snap = self.snapshot()
        signature = tuple((n, r.status.value) for n, r in self.results.items())
        if signature != self._last_signature:
            self._last_signature = signature
            if self.on_change is not None:
                try:
                    await self.on_change(snap)
                except Exception:
                    log.exception("health change notification failed")
        return snap

    def overall(self) -> HealthStatus:
        """Worst status across services; non-critical trouble only degrades."""
        worst = HealthStatus.HEALTHY
        for name, res in self.results.items():
            st = res.status
            if name not in CRITICAL and st in (HealthStatus.UNHEALTHY, HealthStatus.UNKNOWN):
                st = HealthStatus.DEGRADED
            if _ORDER[st] > _ORDER[worst]:
                worst = st
        return worst

    def ready(self) -> bool:
        """True when every critical service is HEALTHY or DEGRADED, a :data:`SHARED` one
        also when it was up at an earlier check."""
        return all(
            self.results[n].status in _UP or (n in SHARED and n in self._was_up)
            for n in CRITICAL
            if n in self.results
        )

    def snapshot(self) -> dict[str, Any]:
        """:class:`~beholder.contracts.resources.HealthOut`: ``{"overall", "status" (the
        same value, the web app's name), "ready", "services": {name: {...}}, "timestamp"}``."""
        overall = self.overall().value
        return {
            "overall": overall,
            "status": overall,
            "ready": self.ready(),
            "services": {n: r.to_wire() for n, r in self.results.items()},
            "timestamp": iso_z(utcnow()),
        }

    async def _loop(self) -> None:
        while True:
            try:
                await self.check_now()
            except Exception:
                log.exception("health loop iteration failed")
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        """Start the periodic loop (first check immediately)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="health-checker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def bus_check(bus: Bus) -> Check:
    """Bus round trip; HEALTHY under 100 ms, DEGRADED above, UNHEALTHY on error."""

    async def check() -> tuple[HealthStatus, dict[str, Any]]:
        rtt = await bus.ping()
        details: dict[str, Any] = {"backend": bus.name, "rttMs": round(rtt * 1000, 2)}
        details.update(bus.stats())
        return (HealthStatus.HEALTHY if rtt < 0.1 else HealthStatus.DEGRADED), details

    return check


def worker_check(tracker: WorkerTracker, started_at: float, grace: float) -> Check:
    """HEALTHY with ≥1 live heartbeat; STARTING during the start-up grace; else UNHEALTHY."""

    async def check() -> tuple[HealthStatus, dict[str, Any]]:
        listing = tracker.listing()
        alive = [v.heartbeat for v in listing if v.alive]
        details: dict[str, Any] = {
            "workers": len(alive),
            "sessions": sum(hb.sessions for hb in alive),
            "staleWorkers": len(listing) - len(alive),
            # per worker (the same figures as /api/system/workers), keyed by worker id
            "perWorker": {v.heartbeat.worker_id: _worker_figures(v) for v in listing},
        }
        if alive:
            return HealthStatus.HEALTHY, details
        if time.monotonic() - started_at < grace:
            details["reason"] = "waiting for the first worker heartbeat"
            return HealthStatus.STARTING, details
        details["reason"] = "no worker heartbeat on the bus"
        return HealthStatus.UNHEALTHY, details

    return check


def _worker_figures(view: WorkerView) -> dict[str, Any]:
    wire = view.to_wire()
    return {k: v for k, v in wire.items() if k not in ("workerId", "cameraIds", "startedAt")}


def media_check(tracker: WorkerTracker, started_at: float, grace: float) -> Check:
    """Egress state reported by the workers: sessions and errors since start."""

    async def check() -> tuple[HealthStatus, dict[str, Any]]:
        alive = tracker.alive()
        if not alive:
            if time.monotonic() - started_at < grace:
                return HealthStatus.STARTING, {"reason": "waiting for a worker"}
            return HealthStatus.UNHEALTHY, {"reason": "no worker to serve live video"}
        sessions = sum(hb.egress_sessions for hb in alive)
        errors = sum(hb.egress_errors for hb in alive)
        details = {"egressSessions": sessions, "egressErrors": errors, "workers": len(alive)}
        return HealthStatus.HEALTHY, details

    return check
