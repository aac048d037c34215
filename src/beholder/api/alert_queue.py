"""Alerts kept in memory while the database is unreachable, written back when it returns.

:class:`AlertQueue` is a bounded FIFO of alerts not yet written, keyed by alert id (an id
queued twice is kept once). Its bounds are a count and a byte size
(:class:`~beholder.config.DegradationSettings`); when one is reached the **oldest** alert
is dropped. Why the oldest: every queued alert has already been pushed live to the
dashboards (the operator saw it), and in a camera system the newest alerts are the ones
still to act on; refusing the newest would keep stale history and lose the present. A drop
is never silent: it is logged at ERROR with the alert id and counted in
``beholder_alert_queue_dropped_total{reason}`` (``overflow``, ``too-large``, ``refused``
when the write-back refuses it for good, ``shutdown`` when the process stops with alerts
still queued).

:class:`AlertWriter` writes the queue back, oldest first, one alert per transaction, with
exponential backoff and jitter while the database still fails; the write itself must be
idempotent on the alert id (the alert id is chosen by its producer, so a write that
committed but whose answer was lost is not stored twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog
from prometheus_client import Counter, Gauge

from beholder.errors import DatabaseError

log = structlog.get_logger(__name__)

ALERT_QUEUE_SIZE = Gauge(
    "beholder_alert_queue_size", "Alerts kept in memory until the database accepts them"
)
ALERT_QUEUE_BYTES = Gauge("beholder_alert_queue_bytes", "Bytes of the alerts kept in memory")
ALERT_QUEUE_QUEUED = Counter(
    "beholder_alert_queue_queued_total", "Alerts queued because the database was unreachable"
)
ALERT_QUEUE_WRITTEN = Counter(
    "beholder_alert_queue_written_total", "Queued alerts written once the database returned"
)
ALERT_QUEUE_DROPPED = Counter(
    "beholder_alert_queue_dropped_total",
    "Queued alerts lost (overflow, too-large, refused, shutdown)",
    ["reason"],
)

T = TypeVar("T")


@dataclass(slots=True)
class QueuedAlert(Generic[T]):
    """One alert waiting for the database: its id, what the writer needs (``payload``), its
    size in bytes (as counted against the byte bound) and when it was queued
    (``time.monotonic()``)."""

    alert_id: str
    payload: T
    size: int
    queued_at: float = field(default_factory=time.monotonic)


class AlertQueue(Generic[T]):
    """Bounded FIFO of :class:`QueuedAlert` (see the module doc for the overflow policy).

    ``max_alerts`` ≥ 1 and ``max_bytes`` ≥ 1 are the bounds."""

    def __init__(self, max_alerts: int, max_bytes: int) -> None:
        self.max_alerts = max_alerts
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, QueuedAlert[T]] = OrderedDict()
        self._bytes = 0
        self.queued = 0
        self.written = 0
        self.dropped: dict[str, int] = {}
        self.not_empty = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, alert_id: object) -> bool:
        return alert_id in self._items

    @property
    def bytes(self) -> int:
        """Bytes held (sum of the sizes of the queued alerts)."""
        return self._bytes

    def put(self, item: QueuedAlert[T]) -> list[QueuedAlert[T]]:
        """Queue ``item`` behind the others; returns the alerts dropped to make room
        (oldest first; ``[item]`` itself when it alone exceeds ``max_bytes``). An id
        already queued is kept as first queued (returns ``[]``)."""
        if item.alert_id in self._items:
            return []
        if item.size > self.max_bytes:
            self._drop(item, "too-large")
            return [item]
        dropped: list[QueuedAlert[T]] = []
        while self._items and (
            len(self._items) >= self.max_alerts or self._bytes + item.size > self.max_bytes
        ):
            _, oldest = self._items.popitem(last=False)
            self._bytes -= oldest.size
            self._drop(oldest, "overflow")
            dropped.append(oldest)
        self._items[item.alert_id] = item
        self._bytes += item.size
        self.queued += 1
        ALERT_QUEUE_QUEUED.inc()
        self._gauges()
        self.not_empty.set()
        return dropped

    def oldest(self) -> QueuedAlert[T] | None:
        """The alert queued first (not removed), or ``None``."""
        return next(iter(self._items.values()), None)

    def remove(self, alert_id: str, *, written: bool = True) -> None:
        """Take ``alert_id`` out (written when ``written``, else dropped as ``refused``)."""
        item = self._items.pop(alert_id, None)
        if item is None:
            return
        self._bytes -= item.size
        if written:
            self.written += 1
            ALERT_QUEUE_WRITTEN.inc()
        else:
            self._drop(item, "refused")
        if not self._items:
            self.not_empty.clear()
        self._gauges()

    def clear(self, reason: str) -> int:
        """Drop everything still queued (counted under ``reason``); returns how many."""
        items = list(self._items.values())
        self._items.clear()
        self._bytes = 0
        self.not_empty.clear()
        for item in items:
            self._drop(item, reason)
        self._gauges()
        return len(items)

    def stats(self) -> dict[str, Any]:
        """``{"queued" (now), "bytes", "queuedTotal", "writtenTotal", "droppedTotal",
        "oldestAgeS"}`` for health details."""
        oldest = self.oldest()
        return {
            "queued": len(self._items),
            "bytes": self._bytes,
            "queuedTotal": self.queued,
            "writtenTotal": self.written,
            "droppedTotal": sum(self.dropped.values()),
            "oldestAgeS": round(time.monotonic() - oldest.queued_at, 1) if oldest else None,
        }

    def _drop(self, item: QueuedAlert[T], reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        ALERT_QUEUE_DROPPED.labels(reason).inc()
        log.error(
            "queued alert dropped before it could be written",
            alert_id=item.alert_id,
            reason=reason,
            queued=len(self._items),
            queued_bytes=self._bytes,
        )

    def _gauges(self) -> None:
        ALERT_QUEUE_SIZE.set(len(self._items))
        ALERT_QUEUE_BYTES.set(self._bytes)


Write = Callable[[T], Awaitable[bool]]
"""Writes one queued alert; ``True`` when stored (or already there), ``False`` when refused
for good (e.g. its camera was deleted meanwhile: dropped as ``refused``). Raises
``DatabaseError`` while the database is unreachable (the alert stays queued)."""


class AlertWriter(Generic[T]):
    """Writes ``queue`` back with ``write``, oldest first, retrying every ``retry_initial`` s
    doubling up to ``retry_max`` s (±20 % jitter) while the database fails. :meth:`poke`
    cuts a wait short (the health check saw the database answer again)."""

    def __init__(
        self,
        queue: AlertQueue[T],
        write: Write[T],
        *,
        retry_initial: float,
        retry_max: float,
    ) -> None:
        self.queue = queue
        self.write = write
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._poke = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_drain: dict[str, Any] | None = None
        """``{"written", "drainS"}`` of the last time the queue emptied: how many alerts and
        how long from the first successful write to the empty queue."""

    def start(self) -> None:
        """Start the write-back task."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="alert-writer")

    def poke(self) -> None:
        """Retry now rather than at the end of the current backoff."""
        self._poke.set()

    async def stop(self, flush_timeout: float) -> None:
        """Stop the task, try for ``flush_timeout`` s to write what is queued, and count
        what is left as dropped (``shutdown``)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if len(self.queue) and flush_timeout > 0:
            with contextlib.suppress(TimeoutError, DatabaseError):
                async with asyncio.timeout(flush_timeout):
                    while await self.write_one():
                        pass
        self.queue.clear("shutdown")

    async def write_one(self) -> bool:
        """Write the oldest queued alert; ``True`` when one was taken out of the queue.
        Raises ``DatabaseError`` (the alert stays queued)."""
        item = self.queue.oldest()
        if item is None:
            return False
        try:
            stored = await self.write(item.payload)
        except DatabaseError:
            raise
        except Exception:  # a bug for this one alert must not block those behind it
            log.exception("queued alert could not be written", alert_id=item.alert_id)
            stored = False
        self.queue.remove(item.alert_id, written=stored)
        return True

    async def _run(self) -> None:
        delay = self.retry_initial
        drain_started: float | None = None
        drained = 0
        while True:
            await self.queue.not_empty.wait()
            try:
                await self.write_one()
            except DatabaseError as exc:
                log.warning(
                    "database still unreachable; alerts stay queued",
                    queued=len(self.queue),
                    retry_in_s=round(delay, 2),
                    error=exc.detail,
                )
                self._poke.clear()
                pause = delay * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not crypto
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await self._poke.wait()
                delay = min(delay * 2, self.retry_max)
                drain_started, drained = None, 0
                continue
            delay = self.retry_initial
            if drain_started is None:
                drain_started = time.monotonic()
            drained += 1
            if not len(self.queue):
                self.last_drain = {
                    "written": drained,
                    "drainS": round(time.monotonic() - drain_started, 3),
                }
                log.info("queued alerts written", **self.last_drain)
                drain_started, drained = None, 0
