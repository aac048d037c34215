"""A stream's status as the relay sees it: ``online`` when its producer registers,
``streaming`` on its first frame, ``offline`` (with ``lastSeen``) when the producer leaves.

Changes are applied in order by one task, off the producer's read loop: each is persisted
and pushed on the dashboard hub by the api's ``save`` function (``stream-status-update``),
then ``published(stream_id, status, last_seen)`` tells the stream's consumers here and on
the other instances.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog

from beholder.contracts.resources import StreamStatus

log = structlog.get_logger(__name__)

SaveStatus = Callable[[str, StreamStatus], Awaitable["datetime | bool | None"]]
"""``(stream_id, status) -> last_seen`` after persisting and pushing it on the hub;
``False`` when the stream no longer exists."""
Published = Callable[[str, StreamStatus, "datetime | None"], Awaitable[None]]


class StatusTracker:
    """Orders and applies status changes (see the module doc). ``pending`` changes are
    bounded only by the number of producers (three per producer connection at most)."""

    def __init__(self, save: SaveStatus, published: Published) -> None:
        self._save = save
        self._published = published
        self._queue: asyncio.Queue[tuple[str, StreamStatus]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.applied = 0
        self.failed = 0

    def start(self) -> None:
        """Start the task (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="relay-stream-status"
            )

    async def stop(self, timeout: float = 5.0) -> None:
        """Apply what is pending (at most ``timeout`` s), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def change(self, stream_id: str, status: StreamStatus) -> None:
        """Queue a change (never awaits)."""
        self._queue.put_nowait((stream_id, status))

    async def idle(self) -> None:
        """Wait until every queued change was applied."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            stream_id, status = await self._queue.get()
            try:
                last_seen = await self._save(stream_id, status)
                if last_seen is not False:
                    self.applied += 1
                    await self._published(
                        stream_id, status, last_seen if isinstance(last_seen, datetime) else None
                    )
            except Exception:
                self.failed += 1
                log.exception("stream status not saved", stream_id=stream_id, status=status)
            finally:
                self._queue.task_done()


__all__ = ["Published", "SaveStatus", "StatusTracker"]
