"""The debounced ``stats:updated`` push of the fleet summary (issue 11).

Anything that changes the figures calls :meth:`SummaryPusher.poke` (cheap, never blocks).
The first poke after a quiet period is pushed at once; pokes that follow are folded into
one push at most every ``interval`` s (``BEHOLDER_NVR_STATS_DEBOUNCE``, 0.5 by default), so
a burst of 100 changes/s costs two summaries a second, whatever the fleet size. Each push
computes :func:`beholder.db.repositories.stats.summary` once and hands it to ``publish``
(the api's hub fan-out, topic ``nvrs``). With several api instances each one pushes what
its own consumers saw (dashboards may then get one push per instance per interval).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog

from beholder.contracts import hub as hub_messages
from beholder.contracts.hub import HubMessage
from beholder.db.engine import Database
from beholder.db.repositories import stats as stats_repo
from beholder.errors import AppError

log = structlog.get_logger(__name__)

Publish = Callable[[str, HubMessage, str | None], Awaitable[None]]
"""``publish(topic, message, camera_id)``: hand a hub message to every api instance's hub."""


class SummaryPusher:
    """Debounced summary pushes (see the module doc). ``pushes``: how many were sent."""

    def __init__(self, db: Database, publish: Publish, interval: float) -> None:
        self._db = db
        self._publish = publish
        self.interval = interval
        self._dirty = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.pushes = 0

    def poke(self) -> None:
        """The figures changed: push them soon (at once if none was pushed lately)."""
        self._dirty.set()

    @property
    def pending(self) -> bool:
        """True when a change is waiting for the next push."""
        return self._dirty.is_set()

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="nvr-summary-pusher")

    async def stop(self) -> None:
        """Let a push under way finish (its database session closes cleanly), then stop."""
        task, self._task = self._task, None
        if task is not None:
            await stop_task(task, self._stopping)

    async def push_now(self) -> None:
        """Compute and publish the summary once (also what the loop does)."""
        async with self._db.session() as s:
            summary = await stats_repo.summary(s)
        await self._publish("nvrs", hub_messages.summary_updated(summary), None)
        self.pushes += 1

    async def _run(self) -> None:
        while not self._stopping.is_set():
            if not await _first(self._dirty, self._stopping):
                return
            self._dirty.clear()
            started = time.monotonic()
            try:
                await self.push_now()
            except AppError as exc:  # the database is down: the next change retries
                log.warning("fleet summary not pushed", code=exc.code.value, detail=exc.detail)
            except Exception:
                log.exception("fleet summary push failed")
            # At most one push per interval; changes meanwhile set the event again.
            rest = max(0.0, self.interval - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(rest):
                    await self._stopping.wait()


async def _first(wanted: asyncio.Event, stopping: asyncio.Event) -> bool:
    """Wait until ``wanted`` or ``stopping`` is set; True for ``wanted``."""
    if not wanted.is_set() and not stopping.is_set():
        waits = {asyncio.ensure_future(wanted.wait()), asyncio.ensure_future(stopping.wait())}
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for w in pending:
            w.cancel()
    return not stopping.is_set()


async def stop_task(task: asyncio.Task[None], stopping: asyncio.Event, grace: float = 5.0) -> None:
    """Set ``stopping`` and give ``task`` ``grace`` s to return by itself (a database call
    under way completes and releases its connection); cancel it after that."""
    stopping.set()
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
