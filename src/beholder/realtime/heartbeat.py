"""The hub's app-level heartbeat (DESIGN §7): ping every authenticated connection every
``ws_ping_interval`` s and close, with 4408, those silent for ``ws_missed_pongs``
consecutive pings. Any client message counts as a pong (``Connection.seen``)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable

import structlog

from beholder.contracts import hub as hub_messages
from beholder.realtime.connection import Connection, Counters
from beholder.realtime.frames import Outgoing
from beholder.realtime.protocol import CLOSE_HEARTBEAT

log = structlog.get_logger(__name__)


def now_ms() -> int:
    """Unix time in milliseconds (the ``ts`` of ping/pong messages)."""
    return int(time.time() * 1000)


class Heartbeat:
    """Owns the heartbeat task of one hub. ``connections()`` returns the authenticated
    connections at each tick; ``interval`` in seconds; ``missed_limit`` pings."""

    def __init__(
        self,
        connections: Callable[[], Iterable[Connection]],
        counters: Counters,
        interval: float,
        missed_limit: int,
    ) -> None:
        self._connections = connections
        self._counters = counters
        self.interval = interval
        self.missed_limit = missed_limit
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the task on the running loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="hub-heartbeat")

    async def stop(self) -> None:
        """Cancel the task and wait for it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.tick()
            except Exception:
                log.exception("hub heartbeat tick failed")

    def tick(self) -> None:
        """One round: reset or count missed pongs, close the dead, ping the rest."""
        ping: Outgoing | None = None
        for conn in list(self._connections()):
            if conn.seen:
                conn.seen = False
                conn.missed = 0
            else:
                conn.missed += 1
            if conn.missed >= self.missed_limit:
                self._counters.disconnected_dead += 1
                log.info("hub client missed pongs; closing", client=conn.client, missed=conn.missed)
                conn.close_soon(CLOSE_HEARTBEAT, "heartbeat timeout")
                continue
            if ping is None:
                ping = Outgoing.reply(hub_messages.ping(now_ms()))
            self._counters.sent += 1
            conn.push(ping, live=False)
