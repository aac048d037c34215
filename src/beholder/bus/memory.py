"""In-memory bus for ``beholder serve``: one process, asyncio queues, no durability.

Delivery semantics match the NATS bus where the tests rely on them: a queue subscription on
a durable subject (:func:`beholder.contracts.cluster.durable_stream_of`: ``camera.events``,
``stream.status``) is at-least-once, like a JetStream durable consumer: a message whose
handler raised is delivered again (to a member of the group, ``BusMessage.delivery`` + 1)
after ``redeliver_delay`` seconds, up to ``max_deliver`` deliveries, then given up and
logged. Nothing survives the process, and every other subject is at-most-once as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from dataclasses import dataclass, field

import structlog

from beholder.bus.base import BusMessage, Handler, subject_matches
from beholder.contracts.cluster import durable_stream_of
from beholder.errors import BusError
from beholder.messages import new_id

log = structlog.get_logger(__name__)


@dataclass(eq=False)
class _MemorySubscription:
    bus: MemoryBus
    subject: str
    handler: Handler
    queue_group: str | None
    inbox: asyncio.Queue[BusMessage | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None

    async def unsubscribe(self) -> None:
        self.bus._remove(self)
        if self.task is not None and not self.task.done():
            self.inbox.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.task, timeout=1.0)

    async def _run(self) -> None:
        # One consumer task per subscription: a slow handler delays only itself.
        while True:
            msg = await self.inbox.get()
            if msg is None:
                return
            try:
                await self.handler(msg)
            except Exception:
                self.bus.handler_errors += 1
                if self.queue_group is not None and durable_stream_of(msg.subject):
                    self.bus._redeliver(msg, self.queue_group)
                else:
                    log.exception("bus handler failed", subject=msg.subject)
            else:
                if self.queue_group is not None and durable_stream_of(msg.subject):
                    self.bus.acked += 1


class MemoryBus:
    """Bus within one process. Handlers run in their own task per subscription.

    ``max_backlog`` bounds each subscription's inbox; beyond it messages to that subscriber
    are dropped and counted (a stuck consumer must not grow memory without bound).
    """

    name = "memory"

    def __init__(
        self, max_backlog: int = 10_000, max_deliver: int = 20, redeliver_delay: float = 1.0
    ) -> None:
        self.max_deliver = max_deliver
        self.redeliver_delay = redeliver_delay
        self.acked = 0
        self.nacked = 0
        self.redelivered = 0
        self._timers: set[asyncio.TimerHandle] = set()
        self._subs: list[_MemorySubscription] = []
        self._rr = itertools.count()
        self._closed = True
        self.max_backlog = max_backlog
        self.published = 0
        self.delivered = 0
        self.dropped = 0
        self.handler_errors = 0
        self.by_subject: dict[str, int] = {}

    async def start(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        subs, self._subs = self._subs, []
        for sub in subs:
            await sub.unsubscribe()

    def _remove(self, sub: _MemorySubscription) -> None:
        with contextlib.suppress(ValueError):
            self._subs.remove(sub)

    def _check_open(self) -> None:
        if self._closed:
            raise BusError(detail="in-memory bus is closed")

    async def publish(
        self, subject: str, data: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self._deliver(BusMessage(subject=subject, data=data, headers=dict(headers or {})))

    def _deliver(self, msg: BusMessage) -> int:
        self._check_open()
        self.published += 1
        self.by_subject[msg.subject] = self.by_subject.get(msg.subject, 0) + 1
        groups: dict[str, list[_MemorySubscription]] = {}
        targets: list[_MemorySubscription] = []
        for sub in self._subs:
            if not subject_matches(sub.subject, msg.subject):
                continue
            if sub.queue_group is None:
                targets.append(sub)
            else:
                groups.setdefault(sub.queue_group, []).append(sub)
        n = next(self._rr)
        for members in groups.values():
            targets.append(members[n % len(members)])
        for sub in targets:
            if sub.inbox.qsize() >= self.max_backlog:
                self.dropped += 1
                continue
            sub.inbox.put_nowait(msg)
            self.delivered += 1
        return len(targets)

    def _redeliver(self, msg: BusMessage, group: str) -> None:
        """Deliver ``msg`` again to a member of ``group`` later (its handler raised)."""
        self.nacked += 1
        if msg.delivery >= self.max_deliver:
            log.exception(
                "durable message given up after its last delivery",
                subject=msg.subject,
                delivery=msg.delivery,
            )
            return
        log.exception(
            "bus handler failed; message will be redelivered",
            subject=msg.subject,
            delivery=msg.delivery,
        )
        again = BusMessage(
            subject=msg.subject, data=msg.data, headers=dict(msg.headers), delivery=msg.delivery + 1
        )

        def fire() -> None:
            self._timers.discard(timer)
            if self._closed:
                return
            members = [
                s
                for s in self._subs
                if s.queue_group == group and subject_matches(s.subject, again.subject)
            ]
            if not members:
                return
            sub = members[next(self._rr) % len(members)]
            sub.inbox.put_nowait(again)
            self.delivered += 1
            self.redelivered += 1

        timer = asyncio.get_running_loop().call_later(self.redeliver_delay, fire)
        self._timers.add(timer)

    async def subscribe(
        self, subject: str, handler: Handler, queue: str | None = None
    ) -> _MemorySubscription:
        self._check_open()
        sub = _MemorySubscription(self, subject, handler, queue)
        sub.task = asyncio.create_task(sub._run(), name=f"bus-sub:{subject}")
        self._subs.append(sub)
        return sub

    async def request(self, subject: str, data: bytes, timeout: float = 2.0) -> bytes:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bytes] = loop.create_future()

        async def responder(reply: bytes) -> None:
            if not fut.done():
                fut.set_result(reply)

        msg = BusMessage(
            subject=subject, data=data, reply=f"_INBOX.{new_id()}", _responder=responder
        )
        if self._deliver(msg) == 0:
            raise BusError(detail=f"no responders on {subject}")
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError as exc:
            raise BusError(detail=f"request on {subject} timed out after {timeout}s") from exc

    async def ping(self) -> float:
        self._check_open()
        t0 = time.perf_counter()
        await asyncio.sleep(0)
        return time.perf_counter() - t0

    def reconnecting(self) -> bool:
        """Always False: there is no broker to lose."""
        return False

    def stats(self) -> dict[str, int]:
        return {
            "published": self.published,
            "delivered": self.delivered,
            "dropped": self.dropped,
            "handlerErrors": self.handler_errors,
            "acked": self.acked,
            "nacked": self.nacked,
            "redelivered": self.redelivered,
            "subscriptions": len(self._subs),
            "pending": sum(s.inbox.qsize() for s in self._subs),
        }
