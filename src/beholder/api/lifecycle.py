"""Start-up and shutdown of one api instance: every service in one ``AsyncExitStack``.

:func:`running_services` starts, in order: the data dir and secret, the migrations, the
database (first admin), the bus, the connection registry's re-check, the dashboard hub, the
health checker, the bus consumers (with the ``auth.revoked`` listener), the NVR fleet
service (silence monitor, debounced fleet summary),
the audit trail's retention purge (right after the database),
for ``serve`` the in-process worker and its live-view egress, the first health check and
the health loop, then the camera reconciliation in the background. Each step registers how
to undo itself as soon as it has something to undo, so:

* a step that fails undoes every step before it (in reverse order) and raises
  :class:`StartupFailed` naming the step;
* shutdown undoes everything in reverse order, awaits every task it cancels and logs each
  failure with its traceback (one failing service never keeps the others open).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog

from beholder import tracing
from beholder.api.degradation import bus_health, database_health
from beholder.api.dispatch import make_dispatcher
from beholder.api.events import EventConsumers
from beholder.api.fanout import fan_out
from beholder.api.middleware.rate_limit import RateLimiter
from beholder.api.reconcile import reconcile_cameras
from beholder.api.revocation import RevocationListener
from beholder.api.state import AppState
from beholder.api.views import alert_message, alert_out, camera_out, public_camera
from beholder.auth.audit import AuditRetention
from beholder.auth.connections import ConnectionRegistry
from beholder.auth.media import MediaSigner
from beholder.auth.service import AuthService
from beholder.auth.standing import principal_standing
from beholder.auth.tokens import TokenService, load_or_create_secret
from beholder.bootstrap import ensure_admin
from beholder.bus import Bus, create_bus
from beholder.bus.traced import traced_bus
from beholder.config import Settings, reveal
from beholder.contracts import hub as hub_messages
from beholder.contracts.hub import HubMessage
from beholder.contracts.resources import AlertOut
from beholder.db.engine import Database, prepare_data_dir
from beholder.db.migrate import upgrade_async
from beholder.db.repositories import alerts as alerts_repo
from beholder.health import (
    HealthChecker,
    HealthStatus,
    WorkerTracker,
    bus_check,
    media_check,
    worker_check,
)
from beholder.nvr.service import Hooks, NvrService
from beholder.realtime.agents import AgentSocket
from beholder.realtime.gap_fill import AlertGapFill
from beholder.realtime.hub import Hub
from beholder.realtime.relay.service import Relay

log = structlog.get_logger(__name__)


class StartupFailed(Exception):
    """A start-up step failed; every step before it has been undone.

    ``step`` names the step (``"database"``, ``"bus"``, ...); the cause is ``__cause__``.
    ``str()`` is one line meant for the operator (no traceback, no credentials beyond what
    the cause's own message holds)."""

    def __init__(self, step: str, cause: BaseException) -> None:
        self.step = step
        reason = " ".join(str(cause).split()) or type(cause).__name__
        if len(reason) > 300:
            reason = reason[:297] + "..."
        super().__init__(f"start-up failed at step {step!r}: {type(cause).__name__}: {reason}")


@contextlib.asynccontextmanager
async def _step(name: str) -> AsyncIterator[None]:
    """Run one start-up step; any exception becomes :class:`StartupFailed` naming it."""
    t0 = time.perf_counter()
    try:
        yield
    except StartupFailed:
        raise
    except Exception as exc:
        raise StartupFailed(name, exc) from exc
    log.debug("start-up step done", step=name, ms=round((time.perf_counter() - t0) * 1000, 1))


def _undo(
    stack: contextlib.AsyncExitStack, service: str, close: Callable[[], Awaitable[Any]]
) -> None:
    """Register ``close`` on ``stack``; a failure is logged (with traceback) and the rest of
    the shutdown goes on."""

    async def undo() -> None:
        try:
            await close()
        except Exception:
            log.exception("service failed to stop", service=service)

    stack.push_async_callback(undo)


async def _close_database(db: Database) -> None:
    """Dispose of the pool, then collect garbage. A connection still checked out here belongs
    to a task that was cancelled mid-query (it never returned it): say so. Either way a
    connection object dropped by such a task (even one the pool no longer counts) keeps its
    file handles and SQLite locks until the garbage collector runs, so run it now (~10 ms,
    once per shutdown) rather than leave the data dir locked for whoever opens it next."""
    busy = db.pool_status()["checkedOut"]
    await db.dispose()
    if busy:
        log.warning("database connections still checked out at shutdown", count=busy)
    gc.collect()


async def cancel_and_wait(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until every one has finished; log (with traceback) any that
    ended with an exception other than its cancellation."""
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for task, result in zip(tasks, results, strict=True):
        if isinstance(result, Exception):
            log.error(
                "background task failed",
                task=task.get_name(),
                exc_info=(type(result), result, result.__traceback__),
            )


@contextlib.asynccontextmanager
async def running_services(
    settings: Settings,
    *,
    role: str,
    bus: Bus | None,
    limiter: RateLimiter,
    migrate: bool,
) -> AsyncIterator[AppState]:
    """Start every service of an api instance, yield the :class:`AppState`, stop them all.

    ``role``: ``serve`` runs the worker in-process when ``settings.run_worker``; ``api``
    does not. ``bus`` overrides the one of ``settings.bus`` (it is closed on exit too).
    Raises :class:`StartupFailed` (after undoing the earlier steps) when a step fails."""
    t0 = time.perf_counter()
    async with contextlib.AsyncExitStack() as stack:
        async with _step("data directory"):
            prepare_data_dir(settings)
            secret = reveal(settings.secret_key) or load_or_create_secret(settings.secret_file)
        if migrate:
            async with _step("migrations"):
                await upgrade_async(settings.resolved_database_url)
        async with _step("database"):
            db = Database(settings)
            _undo(stack, "database", lambda: _close_database(db))
            tracing.instrument_engine(db.engine)
            await ensure_admin(db, settings)
        async with _step("audit retention"):
            retention = AuditRetention(
                db, settings.audit.retention_days, settings.audit.purge_interval
            )
            _undo(stack, "audit retention", retention.stop)
            retention.start()
        async with _step("bus"):
            raw_bus = bus or create_bus(settings.bus, settings.cluster)
            the_bus = traced_bus(raw_bus)
            _undo(stack, "bus", the_bus.close)
            await the_bus.start()
        auth = AuthService(
            db, TokenService(secret, settings.access_token_ttl, settings.refresh_token_ttl)
        )

        async def replay(last_alert_id: str, limit: int) -> list[dict[str, Any]]:
            async with db.session() as s:
                rows = await alerts_repo.after(s, last_alert_id, limit)
                return [alert_message(r) for r in rows]

        connections = ConnectionRegistry(
            settings.auth_recheck_interval, functools.partial(principal_standing, db)
        )
        _undo(stack, "connection re-check", connections.stop)
        connections.start()
        async with _step("hub"):
            hub = Hub(settings.hub, auth.authenticate, replay, connections)
            _undo(stack, "hub", hub.close)
            await hub.start()
            # hub.broadcast is plain NATS: alerts in flight during a bus outage are sent
            # again from the database once it is back (realtime/gap_fill.py).
            gap_fill = AlertGapFill(hub, the_bus.reconnecting)
            _undo(stack, "alert gap fill", gap_fill.stop)
            gap_fill.start()
        workers = WorkerTracker(settings.worker.heartbeat_interval)
        state = AppState(
            settings=settings,
            db=db,
            bus=the_bus,
            auth=auth,
            hub=hub,
            connections=connections,
            health=_health_checker(settings, db, the_bus, hub, workers),
            workers=workers,
            limiter=limiter,
            media=MediaSigner(secret),
            dispatcher=make_dispatcher(the_bus, raw_bus, settings.cluster),
        )
        state.health.on_change = _health_listener(state)
        checks = state.health.checks  # what an outage degrades, and why (issue 14 item 8)
        checks["database"] = database_health(state, checks["database"])
        checks["bus"] = bus_health(the_bus, checks["bus"])
        async with _step("relay"):
            await _start_relay(stack, state)
        _undo(stack, "health checker", state.health.stop)
        async with _step("bus consumers"):
            consumers = EventConsumers(state)
            _undo(stack, "bus consumers", consumers.stop)
            await consumers.start()
            revocations = RevocationListener(state)
            _undo(stack, "revocation listener", revocations.stop)
            await revocations.start()
        async with _step("nvr fleet"):
            state.nvr = NvrService(settings, db, the_bus, _nvr_hooks(state))
            _undo(stack, "nvr fleet", state.nvr.stop)
            await state.nvr.start()
        async with _step("nvr agent socket"):
            state.agents = AgentSocket(
                settings.hub,
                settings.nvr,
                auth.authenticate,
                state.nvr,
                connections,
                # SQLite has one writer: a few calls overlap their reads and thread hops,
                # more only contend for the lock (bench/nvr_fleet.py: 4 beats 1 and ∞)
                concurrency=4 if db.dialect == "sqlite" else settings.db_pool_size,
            )
            _undo(stack, "nvr agent socket", state.agents.close)
            await state.agents.start()
        if role == "serve" and settings.run_worker:
            await _start_worker(stack, state)
        async with _step("health checker"):
            await state.health.check_now()
            state.health.start()
        # Reconciliation waits for a worker ping; it must not hold up readiness.
        reconcile = asyncio.create_task(_reconcile_safely(state), name="reconcile-cameras")
        stack.push_async_callback(cancel_and_wait, [reconcile])
        log.info(
            "api started",
            role=role,
            database=db.dialect,
            bus=the_bus.name,
            startup_ms=round((time.perf_counter() - t0) * 1000, 1),
        )
        yield state
        log.info("api stopping")
    log.info("api stopped")


async def _start_relay(stack: contextlib.AsyncExitStack, state: AppState) -> None:
    """The mobile relay ``/api/streams/ws``: ``state.relay`` (what the REST API reads) and
    ``state.relay_alerts`` (stream alerts persisted here, delivered to the stream's sockets
    on every instance). Stopped before the hub, the bus and the database it uses."""
    from beholder.api.relay_store import ApiRelayStore

    store = ApiRelayStore()
    relay = Relay(
        state.settings.relay,
        state.auth.authenticate,
        store,
        state.bus,
        state.connections,
        unauthenticated_per_client=state.settings.hub.ws_unauthenticated_per_client,
    )
    store.state = state
    _undo(stack, "relay", relay.close)
    await relay.start()
    state.relay = relay
    hub_check = state.health.checks["websocket"]

    async def websocket_check() -> tuple[HealthStatus, dict[str, Any]]:
        status, details = await hub_check()
        return status, {**details, "relay": relay.stats()}

    state.health.checks["websocket"] = websocket_check  # the hub's figures and the relay's

    async def deliver(alert: AlertOut) -> None:
        await relay.deliver_alert(alert)

    state.relay_alerts = deliver


async def _start_worker(stack: contextlib.AsyncExitStack, state: AppState) -> None:
    """``serve``: the in-process worker and its live-view egress."""
    from beholder.worker.egress.hub import EgressHub
    from beholder.worker.manager import WorkerManager

    async with _step("worker"):
        worker = state.worker = WorkerManager(
            state.settings.worker,
            state.bus,
            camera=state.settings.camera,
            relay=state.settings.relay,
            cluster=state.settings.cluster,
        )
        _undo(stack, "worker", worker.stop)
        await worker.start()
    async with _step("live-view egress"):
        egress = state.egress = EgressHub(
            state.bus, state.settings.live_view, worker_id=worker.worker_id
        )
        _undo(stack, "live-view egress", egress.close)
        await egress.start()
        egress.install(worker)


def _health_checker(
    settings: Settings, db: Database, bus: Bus, hub: Hub, workers: WorkerTracker
) -> HealthChecker:
    started = time.monotonic()
    grace = max(3 * settings.worker.heartbeat_interval, 5.0)

    async def db_check() -> tuple[HealthStatus, dict[str, Any]]:
        rtt = await db.ping()
        details: dict[str, Any] = {"backend": db.dialect, "rttMs": round(rtt * 1000, 2)}
        details.update(db.pool_status())
        return (HealthStatus.HEALTHY if rtt < 0.5 else HealthStatus.DEGRADED), details

    async def hub_check() -> tuple[HealthStatus, dict[str, Any]]:
        return HealthStatus.HEALTHY, hub.stats()

    return HealthChecker(
        {
            "database": db_check,
            "worker": worker_check(workers, started, grace),
            "websocket": hub_check,
            "bus": bus_check(bus),
            "media": media_check(workers, started, grace),
        },
        interval=settings.health_interval,
    )


def _nvr_hooks(state: AppState) -> Hooks:
    """The api side of what :class:`NvrService` needs: hub fan-out and public views."""

    async def publish(topic: str, message: HubMessage, camera_id: str | None) -> None:
        await fan_out(state, topic, message, camera_id=camera_id)

    return Hooks(
        publish=publish,
        camera=lambda cam: public_camera(camera_out(cam)),
        alert=lambda row: hub_messages.alert_message(alert_out(row)),
    )


def _health_listener(state: AppState) -> Callable[[dict[str, Any]], Awaitable[None]]:
    async def on_health_change(snapshot: dict[str, Any]) -> None:
        await fan_out(state, "health", hub_messages.health_update(snapshot))

    return on_health_change


async def _reconcile_safely(state: AppState) -> None:
    try:
        await reconcile_cameras(state)
    except Exception:
        log.exception("camera reconciliation failed")


__all__ = ["StartupFailed", "cancel_and_wait", "running_services"]
