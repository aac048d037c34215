"""NATS bus (distributed mode): core NATS subjects with queue groups and request/reply, and
JetStream for what must not be lost.

The subjects of a durable stream (:data:`beholder.contracts.cluster.Streams`: alerts on
``camera.events``, ``stream.status``) are published through a bounded outbox with JetStream
acknowledgement (:mod:`beholder.bus.outbox`) and consumed by queue groups through durable
consumers with explicit ack (:mod:`beholder.bus.jetstream`). Everything else (hub fan-out,
live view, heartbeats, request/reply) stays core NATS. :meth:`NatsBus.start` creates or
updates the streams and refuses a server without JetStream.

Authentication and TLS come from :class:`~beholder.config.BusSettings` (user/password,
token, nkey seed file or ``.creds`` file; CA bundle and client certificate). A server that
refuses the credentials fails :meth:`NatsBus.start` with one line that names the server and
the refusal, never a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import AuthorizationError, NoRespondersError
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.client import JetStreamContext

from beholder.bus.base import BusMessage, Handler
from beholder.bus.jetstream import DurableConsumer, check_jetstream, ensure_streams
from beholder.bus.outbox import Outbox, OutboxItem
from beholder.config import BusSettings
from beholder.config.cluster import ClusterSettings
from beholder.contracts.cluster import MSG_ID_HEADER, durable_stream_of
from beholder.errors import BusError
from beholder.messages import new_id

log = structlog.get_logger(__name__)


_REFUSAL = "authorization violation"  # nats-server's -ERR for bad or missing credentials


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class _NatsSubscription:
    def __init__(self, sub: Any, subs: set[_NatsSubscription]) -> None:
        self._sub = sub
        self._subs = subs
        subs.add(self)

    @property
    def pending(self) -> int:
        """Messages received from the server and not yet handled (client-side backlog)."""
        return int(self._sub.pending_msgs)

    async def unsubscribe(self) -> None:
        self._subs.discard(self)
        with contextlib.suppress(NatsError):
            await self._sub.unsubscribe()


def connect_options(settings: BusSettings) -> dict[str, Any]:
    """Keyword arguments of ``nats.aio.client.Client.connect`` for the credentials and TLS
    of ``settings`` (none for an unauthenticated plain server). Raises ``ssl.SSLError`` /
    ``OSError`` when a TLS file cannot be loaded."""
    opts: dict[str, Any] = {}
    if settings.user is not None:
        opts["user"] = settings.user
        if settings.password is not None:
            opts["password"] = settings.password.get_secret_value()
    if settings.token is not None:
        opts["token"] = settings.token.get_secret_value()
    if settings.nkey_seed_file is not None:
        opts["nkeys_seed"] = str(settings.nkey_seed_file)
    if settings.creds_file is not None:
        opts["user_credentials"] = str(settings.creds_file)
    if (
        settings.url.startswith("tls://")
        or settings.tls_ca_file is not None
        or settings.tls_cert_file is not None
    ):
        ctx = ssl.create_default_context(
            cafile=str(settings.tls_ca_file) if settings.tls_ca_file else None
        )
        if settings.tls_cert_file is not None and settings.tls_key_file is not None:
            ctx.load_cert_chain(str(settings.tls_cert_file), str(settings.tls_key_file))
        opts["tls"] = ctx
    return opts


class NatsBus:
    """Bus over a NATS server with JetStream: ``settings`` (:class:`BusSettings`, with
    credentials and TLS) or a bare URL (``nats://host:4222``, no credentials but those in
    the URL); ``cluster``: the streams' limits, the consumers' ack settings and the outbox
    bound (default ``ClusterSettings()``); ``flush_timeout``: seconds :meth:`close` waits
    for the outbox to empty."""

    name = "nats"

    def __init__(
        self,
        settings: BusSettings | str,
        connect_timeout: float = 2.0,
        first_connect_timeout: float = 5.0,
        cluster: ClusterSettings | None = None,
        flush_timeout: float = 5.0,
    ) -> None:
        if isinstance(settings, str):
            settings = BusSettings(url=settings)
        self.settings = settings
        self.cluster = cluster or ClusterSettings()
        self.flush_timeout = flush_timeout
        self.counters = {
            "delivered": 0,
            "handlerErrors": 0,
            "acked": 0,
            "nacked": 0,
            "redelivered": 0,
        }
        self._outbox = Outbox(self._send_durable, self.cluster.outbox_max_messages)
        self._consumers: set[DurableConsumer] = set()
        self._recovery: asyncio.Task[None] | None = None
        self.url = settings.url
        self.connect_timeout = connect_timeout
        self.first_connect_timeout = first_connect_timeout
        self._nc: Client | None = None
        self._connected = False
        self._last_error: Exception | None = None
        self._refused = asyncio.Event()
        self.published = 0
        self._subs: set[_NatsSubscription] = set()

    async def start(self) -> None:
        """Connect. Raises :class:`BusError` when no server answered within
        ``first_connect_timeout`` seconds (once connected, the client reconnects forever:
        nats-py would also retry the *first* connection forever, so a wrong URL would hang
        start-up instead of failing it)."""
        nc = Client()
        try:
            options = connect_options(self.settings)
        except (OSError, ssl.SSLError) as exc:
            why = f"{type(exc).__name__}: {exc.strerror or exc}"
            raise BusError(detail=f"cannot load the NATS TLS files: {why}") from exc
        local = all(_is_loopback(server) for server in self.settings.servers)
        if not self.settings.authenticated and not local:
            log.warning(
                "the NATS bus is used without credentials; set BEHOLDER_BUS_USER/PASSWORD, "
                "TOKEN, NKEY_SEED_FILE or CREDS_FILE",
                server=self._where(),
            )
        try:
            async with asyncio.timeout(self.first_connect_timeout):
                await self._first_connect(nc, options)
        except BaseException as exc:  # cancelled too: never leave the reconnect loop behind
            with contextlib.suppress(NatsError, OSError):
                await nc.close()
            if not isinstance(exc, NatsError | OSError | TimeoutError):
                raise
            cause = self._last_error if isinstance(exc, TimeoutError) and self._last_error else exc
            if isinstance(cause, AuthorizationError):
                why = "the server refused the credentials (check BEHOLDER_BUS_*)"
            else:
                why = repr(cause)
            raise BusError(detail=f"cannot connect to NATS at {self._where()}: {why}") from exc
        self._nc = nc
        self._connected = True
        try:
            js = nc.jetstream()
            await check_jetstream(js, self._where())
            await ensure_streams(js, self.cluster)
        except BaseException:
            self._nc = None
            self._connected = False
            with contextlib.suppress(NatsError, OSError):
                await nc.close()
            raise
        self._outbox.start()

    async def _on_reconnected(self) -> None:
        # The server may have lost streams or consumers (a new store) and the push
        # consumers must be bound again: re-run the idempotent set-up until it succeeds.
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.create_task(self._recover(), name="nats-js-recover")

    async def _recover(self) -> None:
        delay = 0.2
        while self._nc is not None and not self._nc.is_closed:
            try:
                if self._nc.is_connected:
                    await ensure_streams(self._nc.jetstream(), self.cluster)
                    for consumer in list(self._consumers):
                        await consumer.ensure()
                    log.info("jetstream streams and consumers checked after reconnect")
                    return
            except (BusError, NatsError, TimeoutError) as exc:
                log.debug("jetstream not ready after reconnect; retrying", error=repr(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _first_connect(self, nc: Client, options: dict[str, Any]) -> None:
        """``nc.connect``, cut short when the server refuses the credentials (nats-py would
        retry them until the deadline). Raises ``AuthorizationError`` then."""
        self._refused = asyncio.Event()
        connect = asyncio.create_task(
            nc.connect(
                self.settings.servers,
                connect_timeout=self.connect_timeout,  # type: ignore[arg-type]  # float is fine
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,  # type: ignore[arg-type]  # (typed int, used as float)
                allow_reconnect=True,
                name="beholder",
                error_cb=self._on_error,
                reconnected_cb=self._on_reconnected,
                **options,
            ),
            name="nats-connect",
        )
        refused = asyncio.create_task(self._refused.wait(), name="nats-refused")
        try:
            done, _ = await asyncio.wait({connect, refused}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (connect, refused):
                task.cancel()
            await asyncio.gather(connect, refused, return_exceptions=True)
        if connect in done:
            connect.result()
            return
        raise AuthorizationError

    def _where(self) -> str:
        # never the credentials of nats://user:pass@host
        return ",".join(server.rsplit("@", 1)[-1] for server in self.settings.servers)

    async def _on_error(self, exc: Exception) -> None:
        # nats-py's default logs every failed attempt with a traceback; before the first
        # connection those are expected (start() reports the outcome once).
        if self._connected:
            log.warning("nats error", error=repr(exc))
        else:
            self._last_error = exc
            log.debug("nats connect attempt failed", error=repr(exc))
            if isinstance(exc, AuthorizationError) or _REFUSAL in str(exc).lower():
                self._refused.set()

    def _client(self) -> Client:
        if self._nc is None or self._nc.is_closed:
            raise BusError(detail="NATS bus is not connected")
        return self._nc

    async def close(self) -> None:
        """Send what the outbox holds (up to ``flush_timeout`` s: a stopping worker's last
        STOPPED events must reach the stream), then drain and disconnect. Idempotent."""
        flushed = self._nc is None or await self._outbox.flush(self.flush_timeout)
        if not flushed:
            log.warning("bus closed with unsent durable messages", lost=len(self._outbox))
        await self._outbox.stop()
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
            self._recovery = None
        self._consumers.clear()
        if self._nc is not None and not self._nc.is_closed:
            try:
                await self._nc.drain()
            except NatsError:
                await self._nc.close()
        self._nc = None
        self._subs.clear()

    async def publish(
        self, subject: str, data: bytes, headers: dict[str, str] | None = None
    ) -> None:
        if durable_stream_of(subject) is not None:
            self._client()
            hdrs = dict(headers or {})
            hdrs.setdefault(MSG_ID_HEADER, new_id())
            self._outbox.put(OutboxItem(subject, data, hdrs))
            self.published += 1
            return
        try:
            await self._client().publish(subject, data, headers=headers or None)
        except NatsError as exc:
            raise BusError(detail=f"publish on {subject} failed: {exc!r}") from exc
        self.published += 1

    async def _send_durable(self, item: OutboxItem) -> None:
        nc = self._nc
        if nc is None or not nc.is_connected:
            raise BusError(detail="NATS unreachable")
        await nc.jetstream().publish(item.subject, item.data, timeout=2.0, headers=item.headers)

    async def subscribe(
        self, subject: str, handler: Handler, queue: str | None = None
    ) -> _NatsSubscription | DurableConsumer:
        stream = durable_stream_of(subject)
        if stream is not None and queue:
            consumer = DurableConsumer(
                self._client(),
                stream,
                queue,
                handler,
                self.cluster,
                self.counters,
                on_close=self._consumers.discard,
            )
            await consumer.ensure()
            self._consumers.add(consumer)
            return consumer

        async def cb(msg: Msg) -> None:
            self.counters["delivered"] += 1
            # A durable subject's reply is JetStream's PubAck inbox, not a request's.
            reply = None if stream is not None else (msg.reply or None)

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
                self.counters["handlerErrors"] += 1
                log.exception("bus handler failed", subject=msg.subject)

        try:
            sub = await self._client().subscribe(subject, queue=queue or "", cb=cb)
        except NatsError as exc:
            raise BusError(detail=f"subscribe to {subject} failed: {exc!r}") from exc
        return _NatsSubscription(sub, self._subs)

    async def backlog(self) -> dict[str, int]:
        """For each durable consumer group this process belongs to (by consumer name), the
        messages the group has not acknowledged yet (:meth:`DurableConsumer.backlog`). Raises
        ``BusError`` while NATS is unreachable or does not answer within a second."""
        if self.reconnecting():
            raise BusError(detail=f"NATS at {self._where()} unreachable")
        return {c.name: await c.backlog() for c in list(self._consumers)}

    def jetstream(self) -> JetStreamContext:
        """The client's JetStream context (streams, consumers, KV buckets); raises
        ``BusError`` when the bus is not connected."""
        return self._client().jetstream()

    @property
    def connected_server(self) -> str | None:
        """``host:port`` of the server this client is connected to now (of a cluster's
        servers, the one it failed over to), ``None`` while disconnected."""
        nc = self._nc
        if nc is None or not nc.is_connected or nc.connected_url is None:
            return None
        return f"{nc.connected_url.hostname}:{nc.connected_url.port}"

    def reconnecting(self) -> bool:
        """True while nats-py has lost the server and reconnects (every 0.5 s, forever)."""
        nc = self._nc
        return nc is not None and not nc.is_closed and not nc.is_connected

    async def request(self, subject: str, data: bytes, timeout: float = 2.0) -> bytes:
        if self.reconnecting():  # nobody can answer: fail now rather than after ``timeout``
            raise BusError(detail=f"request on {subject}: NATS at {self._where()} unreachable")
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
        """Counters (see :meth:`Bus.stats`), and for JetStream: ``outbox`` (durable messages
        queued, not yet acknowledged by the server), ``outboxDropped`` (dropped because
        the outbox was full), ``acked``/``nacked`` (durable deliveries acknowledged /
        refused by a raising handler) and ``redelivered`` (deliveries after the first)."""
        return {
            "published": self.published,
            **self.counters,
            "connected": int(self._nc is not None and self._nc.is_connected),
            "pending": sum(s.pending for s in self._subs) + sum(c.pending for c in self._consumers),
            "outbox": len(self._outbox),
            "outboxDropped": self._outbox.dropped,
        }
