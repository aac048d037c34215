"""The bounded outbox of durable publishes (distributed mode): what a process must not lose
while NATS is unreachable.

:meth:`Outbox.put` appends and returns at once (a publisher never waits on the broker); one
sender task hands the head of the queue to ``send`` (a JetStream publish awaiting its
PubAck) in windows of up to :attr:`Outbox.window` messages, removes what was acknowledged and
keeps what failed at the head, in order, retrying with a backoff of 0.1 s doubling to 2 s.
A re-sent message that had in fact been stored is de-duplicated by the server through its
``Nats-Msg-Id`` header, so a retry never stores a message twice.

When the outbox is full the oldest ``stream.status`` message is dropped first (a later
status of the same camera supersedes it), else the oldest message; drops are counted and
logged at most once per :data:`_DROP_LOG_INTERVAL` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from beholder.contracts.subjects import Subjects

log = structlog.get_logger(__name__)

_BACKOFF_FIRST = 0.1
_BACKOFF_MAX = 2.0
_DROP_LOG_INTERVAL = 10.0


@dataclass(eq=False, slots=True)
class OutboxItem:
    """One queued durable message (``headers`` already carry its ``Nats-Msg-Id``)."""

    subject: str
    data: bytes
    headers: dict[str, str] = field(default_factory=dict)
    acked: bool = False


Send = Callable[[OutboxItem], Awaitable[None]]
"""Publish one item and return once the broker acknowledged it; raise on any failure."""


class Outbox:
    """Bounded FIFO of durable messages and the task that sends them (see module doc).

    ``max_messages``: bound (≥ 1); ``send``: see :data:`Send`; ``window``: messages sent
    concurrently (their PubAcks awaited together)."""

    def __init__(self, send: Send, max_messages: int, window: int = 32) -> None:
        self._send = send
        self.max_messages = max_messages
        self.window = window
        self._queue: deque[OutboxItem] = deque()
        self._wakeup = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._task: asyncio.Task[None] | None = None
        self.acked = 0
        self.dropped = 0
        self.failures = 0
        self._drops_logged_at = 0.0
        self._drops_unlogged = 0

    def __len__(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        """Start the sender task (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="bus-outbox")

    def put(self, item: OutboxItem) -> None:
        """Queue ``item`` (never blocks; drops an older message when full)."""
        while len(self._queue) >= self.max_messages:
            self._drop_one()
        self._queue.append(item)
        self._empty.clear()
        self._wakeup.set()

    def _drop_one(self) -> None:
        victim = next(
            (i for i in self._queue if i.subject == Subjects.STREAM_STATUS), self._queue[0]
        )
        self._queue.remove(victim)
        self.dropped += 1
        self._drops_unlogged += 1
        now = time.monotonic()
        if now - self._drops_logged_at >= _DROP_LOG_INTERVAL:
            log.warning(
                "bus outbox full: dropped durable messages (NATS unreachable?)",
                dropped=self._drops_unlogged,
                dropped_total=self.dropped,
                bound=self.max_messages,
            )
            self._drops_logged_at = now
            self._drops_unlogged = 0

    async def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the outbox to empty; True if it did."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._empty.wait()
        return self._empty.is_set()

    async def stop(self) -> None:
        """Stop the sender (what is still queued is lost; :meth:`flush` first)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        backoff = _BACKOFF_FIRST
        while True:
            self._pop_acked()
            if not self._queue:
                self._empty.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = [i for i in list(self._queue)[: self.window] if not i.acked]
            results = await asyncio.gather(*(self._send(i) for i in batch), return_exceptions=True)
            failed: BaseException | None = None
            for item, result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    failed = failed or result
                else:
                    item.acked = True
                    self.acked += 1
            self._pop_acked()
            if failed is None:
                backoff = _BACKOFF_FIRST
                continue
            if isinstance(failed, asyncio.CancelledError):
                raise failed
            self.failures += 1
            log.debug("durable publish failed; retrying", error=repr(failed), backoff=backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX)

    def _pop_acked(self) -> None:
        # A message acknowledged behind a failed one waits to be removed until the failed one
        # goes: it is skipped, never re-sent.
        while self._queue and self._queue[0].acked:
            self._queue.popleft()
        if not self._queue:
            self._empty.set()
