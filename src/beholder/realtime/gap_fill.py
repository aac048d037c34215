"""Alerts a bus outage kept from this instance's dashboards, sent once the bus is back.

Alerts reach every api instance's dashboards over ``hub.broadcast``, plain NATS: a message
in flight when nats-server stops (a restart, a crash) is lost for the instances that had
not received it, while the alert itself is safe in the database (JetStream delivered it to
the instance that stored it). A dashboard whose socket stayed open would never see it: only
a *reconnecting* dashboard replays what it missed.

:class:`AlertGapFill` watches the bus: when it goes down it takes the hub's
:meth:`~beholder.realtime.hub.Hub.alert_mark` (the last alert broadcast here, and when);
``settle`` s after the bus is back (time for the other instances to flush their buffered
broadcasts and for redelivered alerts to be stored) it asks the hub to send the stored
alerts after that mark that it has not broadcast (:meth:`Hub.fill_alert_gap`), to the
connections that were open before the outage. An alert both replayed and broadcast live
later is not sent twice (the hub remembers the ids it broadcast).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from beholder.realtime.hub import Hub

log = structlog.get_logger(__name__)


class AlertGapFill:
    """Fills the hub's alert gap after each bus outage (see the module doc).

    ``reconnecting``: the bus's :meth:`~beholder.bus.base.Bus.reconnecting`; polled every
    ``poll`` s. ``settle``: s to wait after the bus is back. ``limit``: most alerts sent
    per gap."""

    def __init__(
        self,
        hub: Hub,
        reconnecting: Callable[[], bool],
        *,
        settle: float = 2.0,
        poll: float = 0.1,
        limit: int = 500,
    ) -> None:
        self.hub = hub
        self.reconnecting = reconnecting
        self.settle = settle
        self.poll = poll
        self.limit = limit
        self.filled = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start watching the bus (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="hub-alert-gap-fill")

    async def stop(self) -> None:
        """Stop watching (a fill in progress is cancelled)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        mark = None
        while True:
            down = self.reconnecting()
            if down and mark is None:
                mark = self.hub.alert_mark()
            elif not down and mark is not None:
                await asyncio.sleep(self.settle)
                if self.reconnecting():  # down again meanwhile: keep the older mark
                    continue
                try:
                    sent = await self.hub.fill_alert_gap(mark, self.limit)
                except Exception:  # the database is down too: those alerts stay missed
                    log.exception("alert gap after a bus outage not filled")
                else:
                    self.filled += sent
                    if sent:
                        log.info("alerts missed during a bus outage sent", alerts=sent)
                mark = None
            await asyncio.sleep(self.poll)
