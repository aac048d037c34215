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
        self._task: asyncio.Task[None] | None = None
        self.pushes = 0

    def poke(self) -> None:
        """The figures changed: push them soon (at once if none was pushed lately)."""
        self._dirty.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="nvr-summary-pusher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def push_now(self) -> None:
        """Compute and publish the summary once (also what the loop does)."""
        async with self._db.session() as s:
            summary = await stats_repo.summary(s)
        await self._publish("nvrs", hub_messages.summary_updated(summary), None)
        self.pushes += 1

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            started = time.monotonic()
            try:
                await self.push_now()
            except AppError as exc:  # the database is down: the next change retries
                log.warning("fleet summary not pushed", code=exc.code.value, detail=exc.detail)
            except Exception:
                log.exception("fleet summary push failed")
            # At most one push per interval; changes meanwhile set the event again.
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))
