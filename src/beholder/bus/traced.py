"""The trace context across the bus: a :class:`Bus` wrapper used while tracing is on.

A publish made inside a trace gets a PRODUCER span ``publish <subject>`` and carries the
trace context in its headers (W3C ``traceparent``/``tracestate``, through the OpenTelemetry
propagator: see :mod:`beholder.tracing.spans`); its delivery is handled inside a CONSUMER
span ``process <subject>``, child of that publish, on whichever role receives it. Both
buses carry headers the same way (NATS message headers; the in-memory bus's
:attr:`BusMessage.headers`).

Per-frame and periodic subjects (:func:`beholder.contracts.subjects.untraced`) are passed
through untouched. While tracing is off :func:`traced_bus` returns the bus itself: no
wrapper, no cost.
"""

from __future__ import annotations

from typing import Any

from beholder import tracing
from beholder.bus.base import Bus, BusMessage, Handler, Subscription
from beholder.contracts.subjects import untraced


class TracedBus:
    """``inner`` with messaging spans and trace headers (see the module doc). Every other
    attribute (``stats``, counters) is the inner bus's."""

    def __init__(self, inner: Bus) -> None:
        self.inner = inner
        self.name = inner.name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def publish(
        self, subject: str, data: bytes, headers: dict[str, str] | None = None
    ) -> None:
        if untraced(subject):
            await self.inner.publish(subject, data, headers)
            return
        with tracing.producer(subject, self.name, headers, len(data)) as traced:
            await self.inner.publish(subject, data, traced if traced is not None else headers)

    async def subscribe(
        self, subject: str, handler: Handler, queue: str | None = None
    ) -> Subscription:
        if untraced(subject):
            return await self.inner.subscribe(subject, handler, queue)
        system = self.name

        async def traced_handler(msg: BusMessage) -> None:
            with tracing.consumer(msg.subject, system, msg.headers, queue):
                await handler(msg)

        return await self.inner.subscribe(subject, traced_handler, queue)

    async def request(self, subject: str, data: bytes, timeout: float = 2.0) -> bytes:
        # Requests carry no headers (Bus.request): the span shows the wait, the trace stops.
        with tracing.span(
            f"request {subject}",
            attributes={"messaging.system": self.name, "messaging.destination.name": subject},
            only_in_trace=True,
        ):
            return await self.inner.request(subject, data, timeout)

    async def ping(self) -> float:
        return await self.inner.ping()

    def reconnecting(self) -> bool:
        return self.inner.reconnecting()

    def stats(self) -> dict[str, int]:
        return self.inner.stats()


def traced_bus(bus: Bus) -> Bus:
    """``bus`` wrapped in :class:`TracedBus` when tracing is on (once), else ``bus``."""
    if not tracing.enabled() or isinstance(bus, TracedBus):
        return bus
    return TracedBus(bus)
