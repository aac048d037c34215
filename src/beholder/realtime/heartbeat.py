"""The app-level heartbeat of the hub and the relay (DESIGN §7): ping every authenticated
connection every ``interval`` s and close, with 4408, those silent for ``missed_limit``
consecutive pings. Any client message counts as a pong (the connection's ``seen``)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Generic, Protocol, TypeVar

import structlog

from beholder.realtime.protocol import CLOSE_HEARTBEAT

log = structlog.get_logger(__name__)


def now_ms() -> int:
    """Unix time in milliseconds (the ``ts`` of ping/pong messages)."""
    return int(time.time() * 1000)


class Beating(Protocol):
    """What the heartbeat needs of a connection: ``seen`` (a message arrived since the last
    tick), ``missed`` (ticks without one), ``client`` (for logs), ``close_soon``."""

    seen: bool
    missed: int

    @property
    def client(self) -> str: ...

    def close_soon(self, code: int, reason: str) -> None: ...


C = TypeVar("C", bound=Beating)


class Heartbeat(Generic[C]):
    """Owns one heartbeat task. ``connections()`` returns the authenticated connections at
    each tick; ``interval`` in seconds; ``missed_limit`` pings; ``ping(conn)`` sends one
    ping (never awaits); ``dead(conn)`` is called before a silent connection is closed
    (counters). ``name``: of the task and in logs."""

    def __init__(
        self,
        connections: Callable[[], Iterable[C]],
        interval: float,
        missed_limit: int,
        ping: Callable[[C], None],
        dead: Callable[[C], None] | None = None,
        name: str = "hub",
    ) -> None:
        self._connections = connections
        self.interval = interval
        self.missed_limit = missed_limit
        self._ping = ping
        self._dead = dead
        self.name = name
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the task on the running loop (idempotent)."""
        if self._task is None or self._task.done():
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._loop(), name=f"{self.name}-heartbeat")

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
                log.exception("heartbeat tick failed", socket=self.name)

    def tick(self) -> None:
        """One round: reset or count missed pongs, close the dead, ping the rest."""
        for conn in list(self._connections()):
            if conn.seen:
                conn.seen = False
                conn.missed = 0
            else:
                conn.missed += 1
            if conn.missed >= self.missed_limit:
                if self._dead is not None:
                    self._dead(conn)
                log.info(
                    "client missed pongs; closing",
                    socket=self.name,
                    client=conn.client,
                    missed=conn.missed,
                )
                conn.close_soon(CLOSE_HEARTBEAT, "heartbeat timeout")
                continue
            self._ping(conn)
