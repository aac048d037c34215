"""Gauges refreshed when Prometheus scrapes ``/metrics`` (figures read, not counted).

Counters and histograms are updated where things happen; these gauges describe state
(pool use, cameras by status, worker heartbeats, bus backlog, snapshot disk) and are cheap
to read once per scrape: one grouped ``COUNT`` on ``cameras``, one ``statvfs``, and in
distributed mode one JetStream consumer-info request per durable consumer group.
"""

from __future__ import annotations

import asyncio
import shutil

import structlog
from sqlalchemy import func, select

from beholder.api.state import AppState
from beholder.contracts.bus import CameraStatus
from beholder.db.models import Camera
from beholder.errors import BusError
from beholder.observability import (
    BUS_BACKLOG,
    BUS_OUTBOX,
    BUS_PENDING,
    CAMERAS,
    DB_POOL_CHECKED_OUT,
    DB_POOL_IDLE,
    DB_POOL_SIZE,
    HUB_CONNECTIONS,
    HUB_DROPPED,
    HUB_SENT,
    SNAPSHOT_DISK_SIZE,
    SNAPSHOT_DISK_USED,
    WORKER_HEARTBEAT_AGE,
    WORKERS_ALIVE,
)

log = structlog.get_logger(__name__)

CAMERA_COUNT_TIMEOUT = 2.0
"""Seconds the camera count may take; a scrape must answer even when the database is slow."""


async def refresh_gauges(state: AppState) -> None:
    """Set every scrape-time gauge of this api instance from ``state``.

    Never raises for an unavailable database or data dir: the camera series are removed
    (stale counts would fire or hide the camera alert) and the other figures still update.
    """
    hub = state.hub.stats()
    HUB_CONNECTIONS.set(hub.get("connections", 0))
    HUB_SENT.set(hub.get("sent", 0))
    HUB_DROPPED.set(hub.get("dropped", 0))
    pool = state.db.pool_status()
    DB_POOL_CHECKED_OUT.set(pool["checkedOut"])
    DB_POOL_IDLE.set(pool["idle"])
    settings = state.settings
    # SQLite has no server-side connection limit to exhaust: 0 keeps the pool alert quiet.
    limit = settings.db_pool_size + settings.db_max_overflow
    DB_POOL_SIZE.set(limit if state.db.dialect == "postgresql" else 0)
    WORKERS_ALIVE.set(len(state.workers.alive()))
    WORKER_HEARTBEAT_AGE.set(state.workers.heartbeat_age())
    bus = state.bus.stats()
    BUS_PENDING.set(bus.get("pending", 0))
    BUS_OUTBOX.set(bus.get("outbox", 0))
    await _refresh_backlog(state)
    _refresh_disk(state)
    await _refresh_cameras(state)


async def _refresh_backlog(state: AppState) -> None:
    """The JetStream backlog of each consumer group of this instance (NATS bus only: the
    in-memory bus has no stream, its backlog is ``beholder_bus_pending_messages``). Series
    removed when NATS does not answer: a stale figure would hold or hide the lag alert."""
    backlog = getattr(state.bus, "backlog", None)
    if backlog is None:
        return
    try:
        figures: dict[str, int] = await backlog()
    except BusError as exc:
        log.warning("bus backlog unavailable for /metrics", error=(exc.detail or "")[:200])
        BUS_BACKLOG.clear()
        return
    for consumer, messages in figures.items():
        BUS_BACKLOG.labels(consumer=consumer).set(messages)


def _refresh_disk(state: AppState) -> None:
    directory = state.settings.snapshot_dir
    # The directory is created with the first snapshot; its file system is the data dir's.
    path = directory if directory.exists() else state.settings.data_dir
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        log.warning("snapshot disk usage unavailable", error=repr(exc))
        return
    SNAPSHOT_DISK_USED.set(usage.used)
    SNAPSHOT_DISK_SIZE.set(usage.total)


async def _refresh_cameras(state: AppState) -> None:
    try:
        counts = await asyncio.wait_for(_camera_counts(state), CAMERA_COUNT_TIMEOUT)
    except Exception as exc:  # the database's own alerting covers why; keep /metrics up
        log.warning("camera counts unavailable for /metrics", error=repr(exc)[:200])
        CAMERAS.clear()
        return
    for status in CameraStatus:
        CAMERAS.labels(status=status.value).set(counts.get(status.value, 0))


async def _camera_counts(state: AppState) -> dict[str, int]:
    async with state.db.session() as session:
        rows = await session.execute(select(Camera.status, func.count()).group_by(Camera.status))
        return {str(status): int(n) for status, n in rows.all()}
