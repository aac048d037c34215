"""The worker registry (JetStream KV ``beholder_workers``): who is alive now.

Each worker puts its :class:`~beholder.messages.WorkerHeartbeat` under its id every renew
interval; the bucket's TTL (``registry_ttl``) removes a worker that stopped refreshing. An
expiry produces no watch event on nats-server 2.9, so the live set is re-read
(:meth:`WorkerRegistry.live`) at every placement tick.
"""

from __future__ import annotations

import time

import structlog
from pydantic import ValidationError

from beholder.bus.kv import KvBucket
from beholder.messages import WorkerHeartbeat

log = structlog.get_logger(__name__)

__all__ = ["WorkerRegistry"]


class WorkerRegistry:
    """This worker's registration in ``bucket`` and the view of every live worker.

    :attr:`first_seen` remembers, in this process's monotonic clock, when each worker was
    first seen alive (the "registered for at least ``worker_settle_time``" rule uses it:
    immune to clock skew between machines)."""

    def __init__(self, bucket: KvBucket, worker_id: str) -> None:
        self.bucket = bucket
        self.worker_id = worker_id
        self.first_seen: dict[str, float] = {}

    async def register(self, heartbeat: WorkerHeartbeat) -> None:
        """Write (or refresh) this worker's entry. Raises ``BusError``."""
        await self.bucket.put(self.worker_id, heartbeat.to_bytes())

    async def deregister(self) -> None:
        """Remove this worker's entry at once (others take its cameras without waiting for
        the TTL). Raises ``BusError``."""
        await self.bucket.delete(self.worker_id)

    async def live(self) -> dict[str, WorkerHeartbeat]:
        """Every registered worker's last heartbeat, by worker id (a malformed entry is
        skipped). Updates :attr:`first_seen`. Raises ``BusError``."""
        found: dict[str, WorkerHeartbeat] = {}
        for key, entry in (await self.bucket.entries()).items():
            try:
                found[key] = WorkerHeartbeat.from_bytes(entry.value)
            except (ValidationError, ValueError):
                log.warning("skipping a malformed worker registration", key=key)
        now = time.monotonic()
        for wid in found:
            self.first_seen.setdefault(wid, now)
        for wid in list(self.first_seen):
            if wid not in found:
                del self.first_seen[wid]
        return found

    def registered_for(self, worker_id: str) -> float:
        """Seconds since ``worker_id`` was first seen alive by :meth:`live` (0 if never)."""
        seen = self.first_seen.get(worker_id)
        return 0.0 if seen is None else time.monotonic() - seen
