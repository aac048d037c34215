"""The ``Bus`` protocol: publish, subscribe (with queue groups) and request/reply.

Subjects are dot-separated tokens; subscriptions may use NATS wildcards (``*`` one token,
``>`` the rest). Handlers are coroutines; an exception in one is logged and never reaches
the publisher or another subscriber.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(slots=True)
class BusMessage:
    """A delivered message. ``reply`` is set for requests; answer with :meth:`respond`.
    ``delivery`` counts the deliveries of a durable message (1, then 2… when a handler
    raised or its receiver died before acknowledging it); always 1 on core subjects."""

    subject: str
    data: bytes
    headers: dict[str, str] = field(default_factory=dict)
    reply: str | None = None
    _responder: Callable[[bytes], Awaitable[None]] | None = None
    delivery: int = 1

    async def respond(self, data: bytes) -> None:
        """Answer a request (no-op for plain publishes)."""
        if self._responder is not None:
            await self._responder(data)


Handler = Callable[[BusMessage], Awaitable[None]]


class Subscription(Protocol):
    """Handle returned by :meth:`Bus.subscribe`."""

    async def unsubscribe(self) -> None: ...


@runtime_checkable
class Bus(Protocol):
    """Message bus used between roles (in-memory for ``serve``, NATS JetStream distributed)."""

    name: str

    async def start(self) -> None:
        """Connect; raises ``BusError`` when the broker cannot be reached."""

    async def close(self) -> None:
        """Drain and disconnect. Idempotent."""

    async def publish(
        self, subject: str, data: bytes, headers: dict[str, str] | None = None
    ) -> None:
        """Publish to every subscriber (one per queue group); raises ``BusError``.

        On a durable subject the NATS bus queues the message in its outbox and returns at
        once (sent and retried until JetStream acknowledges it); ``headers["Nats-Msg-Id"]``
        (the event id) lets the server store a re-sent message once."""

    async def subscribe(
        self, subject: str, handler: Handler, queue: str | None = None
    ) -> Subscription:
        """Deliver matching messages to ``handler``; with ``queue`` set, each message goes to
        one member of that group (consumer-group semantics).

        On a durable subject (:func:`beholder.contracts.cluster.durable_stream_of`) a queue
        subscription is at-least-once: a message whose handler raised, or whose receiver
        died before its handler returned, is delivered again (``BusMessage.delivery`` > 1),
        so handlers of durable subjects must be idempotent."""

    async def request(self, subject: str, data: bytes, timeout: float = 2.0) -> bytes:
        """Send a request and wait ``timeout`` seconds for the first reply.

        Raises ``BusError`` when nobody answers in time."""

    async def ping(self) -> float:
        """Round-trip time in seconds of a no-op through the bus; raises ``BusError``."""

    def reconnecting(self) -> bool:
        """True while the broker is unreachable and the client is trying to get it back
        (nothing can be sent or answered now; it resumes by itself, subscriptions
        included). False when connected, and for a bus that was closed or never started."""

    def stats(self) -> dict[str, int]:
        """Counters for health and metrics: published, delivered, dropped, subscriptions,
        ``pending`` (messages delivered to this process's subscriptions, not yet handled)."""


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS-style subject match: ``*`` matches one token, a trailing ``>`` one or more."""
    if pattern == subject:
        return True
    p_tokens = pattern.split(".")
    s_tokens = subject.split(".")
    for i, tok in enumerate(p_tokens):
        if tok == ">":
            return len(s_tokens) > i
        if i >= len(s_tokens):
            return False
        if tok != "*" and tok != s_tokens[i]:
            return False
    return len(p_tokens) == len(s_tokens)
