"""A bus of its own on the shared NATS server: :class:`PrefixedBus` puts every subject of a
test under a unique prefix, so that api instances of concurrent test runs on the same
``nats-server`` never consume each other's messages (queue groups included)."""

from __future__ import annotations

import socket
import uuid
from typing import Any

from beholder.bus.base import Bus, BusMessage, Handler, Subscription

NATS_URL = "nats://127.0.0.1:4222"


def nats_up() -> bool:
    """True when something listens on the shared NATS port on 127.0.0.1."""
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=0.5):
            return True
    except OSError:
        return False


class PrefixedBus:
    """``inner`` with every subject prefixed by ``prefix.`` (default: a fresh ``t<hex>``).

    Several :class:`PrefixedBus` with the same prefix over separate connections behave like
    api instances sharing one broker. Handlers see the subject without the prefix."""

    def __init__(self, inner: Bus, prefix: str | None = None) -> None:
        self.inner = inner
        self.prefix = prefix or f"t{uuid.uuid4().hex[:12]}"
        self.name = inner.name

    def _s(self, subject: str) -> str:
        return f"{self.prefix}.{subject}"

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def publish(
        self, subject: str, data: bytes, headers: dict[str, str] | None = None
    ) -> None:
        await self.inner.publish(self._s(subject), data, headers)

    async def subscribe(
        self, subject: str, handler: Handler, queue: str | None = None
    ) -> Subscription:
        cut = len(self.prefix) + 1

        async def unprefixed(msg: BusMessage) -> None:
            msg.subject = msg.subject[cut:]
            await handler(msg)

        return await self.inner.subscribe(self._s(subject), unprefixed, queue=queue)

    async def request(self, subject: str, data: bytes, timeout: float = 2.0) -> bytes:
        return await self.inner.request(self._s(subject), data, timeout=timeout)

    async def ping(self) -> float:
        return await self.inner.ping()

    def reconnecting(self) -> bool:
        return self.inner.reconnecting()

    def stats(self) -> dict[str, Any]:
        return dict(self.inner.stats())
