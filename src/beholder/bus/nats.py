"""NATS bus (distributed mode): core NATS subjects with queue groups and request/reply.

Durable JetStream streams, consumer replay and the camera-lease KV bucket belong to the
distributed-mode work; this class already gives every role the same ``Bus`` semantics
over a real broker, so the suite runs its bus tests against both implementations.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from beholder.bus.base import BusMessage, Handler
from beholder.errors import BusError

log = structlog.get_logger(__name__)


class _NatsSubscription:
    def __init__(self, sub: Any) -> None:
        self._sub = sub

    async def unsubscribe(self) -> None:
        with contextlib.suppress(NatsError):
            await self._sub.unsubscribe()


class NatsBus:
    """Bus over a NATS server at ``url`` (``nats://host:4222``)."""

    name = "nats"

    def __init__(
        self, url: str, connect_timeout: float = 2.0, first_connect_timeout: float = 5.0
    ) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self.first_connect_timeout = first_connect_timeout
        self._nc: Client | None = None
        self._connected = False
        self._last_error: Exception | None = None
        self.published = 0
        self.delivered = 0
        self.handler_errors = 0

    async def start(self) -> None:
        """Connect. Raises :class:`BusError` when no server answered within
        ``first_connect_timeout`` seconds (once connected, the client reconnects forever:
        nats-py would also retry the *first* connection forever, so a wrong URL would hang
        start-up instead of failing it)."""
        nc = Client()
        try:
            async with asyncio.timeout(self.first_connect_timeout):
                await nc.connect(
                    self.url,
                    connect_timeout=self.connect_timeout,  # type: ignore[arg-type]  # float is fine
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,  # type: ignore[arg-type]  # (typed int, used as float)
                    allow_reconnect=True,
                    name="beholder",
                    error_cb=self._on_error,
                )
        except BaseException as exc:  # cancelled too: never leave the reconnect loop behind
            with contextlib.suppress(NatsError, OSError):
                await nc.close()
            if not isinstance(exc, NatsError | OSError | TimeoutError):
                raise
            cause = self._last_error if isinstance(exc, TimeoutError) and self._last_error else exc
            raise BusError(detail=f"cannot connect to NATS at {self._where()}: {cause!r}") from exc
        self._nc = nc
        self._connected = True

    def _where(self) -> str:
        return self.url.rsplit("@", 1)[-1]  # never the credentials of nats://user:pass@host

    async def _on_error(self, exc: Exception) -> None:
        # nats-py's default logs every failed attempt with a traceback; before the first
        # connection those are expected (start() reports the outcome once).
        if self._connected:
            log.warning("nats error", error=repr(exc))
        else:
            self._last_error = exc
            log.debug("nats connect attempt failed", error=repr(exc))

    def _client(self) -> Client:
        if self._nc is None or self._nc.is_closed:
            raise BusError(detail="NATS bus is not connected")
        return self._nc

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            try:
                await self._nc.drain()
            except NatsError:
                await self._nc.close()
        self._nc = None

    async def publish(
        self, subject: str, data: bytes, headers: dict[str, str] | None = None
    ) -> None:
        try:
            await self._client().publish(subject, data, headers=headers or None)
        except NatsError as exc:
            raise BusError(detail=f"publish on {subject} failed: {exc!r}") from exc
        self.published += 1

    async def subscribe(
        self, subject: str, handler: Handler, queue: str | None = None
    ) -> _NatsSubscription:
        async def cb(msg: Msg) -> None:
            self.delivered += 1
            reply = msg.reply or None

            async def respond(data: bytes) -> None:
                await msg.respond(data)

            bus_msg = BusMessage(
                subject=msg.subject,
                data=msg.data,
                headers=dict(msg.headers or {}),
                reply=reply,
                _responder=respond if reply else None,
            )
            try:
                await handler(bus_msg)
            except Exception:
                self.handler_errors += 1
                log.exception("bus handler failed", subject=msg.subject)

        try:
            sub = await self._client().subscribe(subject, queue=queue or "", cb=cb)
        except NatsError as exc:
            raise BusError(detail=f"subscribe to {subject} failed: {exc!r}") from exc
        return _NatsSubscription(sub)

    async def request(self, subject: str, data: bytes, timeout: float = 2.0) -> bytes:
        try:
            msg = await self._client().request(subject, data, timeout=timeout)
        except NoRespondersError as exc:
            raise BusError(detail=f"no responders on {subject}") from exc
        except (NatsTimeout, TimeoutError) as exc:
            raise BusError(detail=f"request on {subject} timed out after {timeout}s") from exc
        except NatsError as exc:
            raise BusError(detail=f"request on {subject} failed: {exc!r}") from exc
        return bytes(msg.data)

    async def ping(self) -> float:
        t0 = time.perf_counter()
        try:
            await self._client().flush(timeout=2)
        except (NatsError, TimeoutError) as exc:
            raise BusError(detail=f"NATS ping failed: {exc!r}") from exc
        return time.perf_counter() - t0

    def stats(self) -> dict[str, int]:
        return {
            "published": self.published,
            "delivered": self.delivered,
            "handlerErrors": self.handler_errors,
            "connected": int(self._nc is not None and self._nc.is_connected),
        }
