"""Camera leases (JetStream KV ``beholder_leases``): take, renew, give back, and fence.

**Epoch scheme.** A worker takes camera ``c`` by ``create("camera.<c>")``, which succeeds only
while the key has no value (never written, deleted, or expired by the bucket's TTL). The
create's KV revision is the lease's **epoch**: revisions are the bucket stream's sequence
numbers, so every later create of the same key, by any worker, has a strictly larger one.
The worker then writes the epoch into the value with ``update(last=<create revision>)`` (the
create itself carries the placeholder epoch 1 for those few milliseconds; nothing is ever
published under it). Every renewal is ``update(last=<previous revision>)``: a lease that
expired, was deleted or was taken by someone else fails the check and is lost.

**Self-fencing.** A lease is valid *for its holder* only until ``t + 0.8 × lease_ttl``, where
``t`` is the monotonic time at which its last successful renewal (or its create) was
*sent*: the server's TTL counts from the write, which happened after ``t``, so the holder
always stops believing in its lease before the server lets anyone else take it (with a
margin of 20 % of the TTL for clock-rate drift and scheduling). Every event is stamped only
while the lease is valid (:meth:`LeaseKeeper.stamp`), so a process paused past its TTL (SIGSTOP,
a long GC or swap stall) publishes nothing for the camera when it resumes: the monotonic
clock kept running while it was stopped.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from pydantic import ValidationError

from beholder.bus.kv import KvBucket
from beholder.contracts.cluster import CameraLease, camera_key, camera_of_key
from beholder.errors import BusError
from beholder.messages import utcnow

log = structlog.get_logger(__name__)

__all__ = ["VALIDITY_FRACTION", "HeldLease", "LeaseKeeper"]

VALIDITY_FRACTION = 0.8
"""A lease is trusted by its holder for this fraction of the TTL after its last renewal."""


@dataclass(slots=True)
class HeldLease:
    """A lease this worker holds: ``epoch`` (create revision), ``revision`` (of the last
    successful write, the ``last`` of the next renewal), ``valid_until`` (monotonic s),
    ``seq`` (the last event sequence number stamped in this epoch) and ``fenced`` (set once
    the worker gave it up or lost it: nothing is stamped any more)."""

    camera_id: str
    epoch: int
    revision: int
    valid_until: float
    value: bytes
    acquired_at: datetime = field(default_factory=utcnow)
    seq: int = 0
    fenced: bool = False

    @property
    def key(self) -> str:
        return camera_key(self.camera_id)

    def valid(self, now: float | None = None) -> bool:
        """True while events may be published under this lease."""
        return not self.fenced and (time.monotonic() if now is None else now) < self.valid_until


class LeaseKeeper:
    """The leases of ``worker_id`` in ``bucket`` (TTL ``lease_ttl`` s), kept in :attr:`held`
    by camera id. Event-loop side only; methods that talk to NATS raise ``BusError``."""

    def __init__(self, bucket: KvBucket, worker_id: str, lease_ttl: float) -> None:
        self.bucket = bucket
        self.worker_id = worker_id
        self.validity = VALIDITY_FRACTION * lease_ttl
        self.held: dict[str, HeldLease] = {}

    async def acquire(self, camera_id: str) -> HeldLease | None:
        """Take ``camera_id`` if nobody holds it: the lease, now in :attr:`held`, or
        ``None`` when another worker has it (or it slipped away between the two writes)."""
        key = camera_key(camera_id)
        sent = time.monotonic()
        placeholder = CameraLease(worker_id=self.worker_id, epoch=1).to_bytes()
        created = await self.bucket.create(key, placeholder)
        if created is None:
            return None
        now = utcnow()
        value = CameraLease(worker_id=self.worker_id, epoch=created, acquired_at=now).to_bytes()
        try:
            revision = await self.bucket.update(key, value, last=created)
        except BusError:
            with contextlib.suppress(BusError):
                await self.bucket.delete(key, last=created)
            raise
        if revision is None:
            return None
        lease = HeldLease(camera_id, created, revision, sent + self.validity, value, now)
        self.held[camera_id] = lease
        log.info("camera lease acquired", camera_id=camera_id, epoch=created)
        return lease

    async def renew(self, lease: HeldLease) -> bool:
        """Renew ``lease`` (compare-and-set on its revision). ``False``: it is lost (expired,
        deleted or taken); the caller stops the session. Raises ``BusError`` when NATS did
        not answer: the lease stays valid until :attr:`HeldLease.valid_until`."""
        sent = time.monotonic()
        revision = await self.bucket.update(lease.key, lease.value, last=lease.revision)
        if revision is None:
            return False
        if not lease.fenced:
            lease.revision = revision
            lease.valid_until = sent + self.validity
        return True

    def forget(self, camera_id: str) -> HeldLease | None:
        """Stop using ``camera_id``'s lease here (fenced at once, no more stamps)."""
        lease = self.held.pop(camera_id, None)
        if lease is not None:
            lease.fenced = True
        return lease

    async def release(self, lease: HeldLease) -> None:
        """Delete ``lease`` from the bucket if it is still ours, so the next owner takes the
        camera at once instead of after the TTL. Best effort: logs a failure."""
        lease.fenced = True
        self.held.pop(lease.camera_id, None)
        try:
            if await self.bucket.delete(lease.key, last=lease.revision):
                return
            # A renewal raced with us: delete it only if it is still this worker's.
            entry = await self.bucket.get(lease.key)
            if entry is not None and self._owner(entry.value) == (self.worker_id, lease.epoch):
                await self.bucket.delete(lease.key, last=entry.revision)
        except BusError as exc:
            log.warning("camera lease not released", camera_id=lease.camera_id, error=str(exc))

    def stamp(self, camera_id: str) -> tuple[int, int] | None:
        """``(epoch, seq)`` for the next event of ``camera_id``, or ``None`` when this
        worker does not validly hold its lease (the event must be dropped)."""
        lease = self.held.get(camera_id)
        if lease is None or not lease.valid():
            return None
        lease.seq += 1
        return lease.epoch, lease.seq

    def epoch(self, camera_id: str) -> int | None:
        """The epoch of ``camera_id``'s validly held lease, or ``None``."""
        lease = self.held.get(camera_id)
        return lease.epoch if lease is not None and lease.valid() else None

    async def holders(self) -> dict[str, str]:
        """Camera id → worker id of every lease in the bucket now."""
        found: dict[str, str] = {}
        for key, entry in (await self.bucket.entries()).items():
            camera_id = camera_of_key(key)
            owner = self._owner(entry.value)
            if camera_id is not None:  # an unreadable value still holds the key
                found[camera_id] = owner[0] if owner is not None else ""
        return found

    @staticmethod
    def _owner(value: bytes) -> tuple[str, int] | None:
        try:
            lease = CameraLease.from_bytes(value)
        except (ValidationError, ValueError):
            return None
        return lease.worker_id, lease.epoch
