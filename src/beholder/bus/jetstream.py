"""JetStream streams and durable consumers of the NATS bus (distributed mode).

Streams: :func:`ensure_streams` creates or updates every stream of
:attr:`beholder.contracts.cluster.Streams.ALL` (limits retention, file storage, the limits of
:class:`~beholder.config.cluster.ClusterSettings`). It is idempotent and safe when several
processes start at once: a create that loses the race ("already in use") becomes an update.

Consumers: a queue subscription on a durable subject is a :class:`DurableConsumer`, one
**push** consumer per (stream, group) named :func:`durable_consumer`, delivered with
``deliver_group`` = the queue group to a fixed deliver subject, so every member of the group
(each api instance) takes part in one consumer and each message goes to one member.

Why push and not pull: the server sends a stored message to a member at once, with no
client round trip in the path (a pull consumer needs a pending fetch request per batch and
re-issues one after each batch: under a stream of single alerts that is one extra
request/response per message). The alert path must add under 20 ms at p50; push adds the
delivery hop only. Push's weak spot is a server restart: nats-py re-subscribes the deliver
subject when it reconnects, the consumer itself is on disk, and :meth:`DurableConsumer.ensure`
is run again after every reconnect (re-creating the consumer if the server lost it), so
delivery resumes by itself. ``max_ack_pending`` bounds what is in flight across the group.

Acknowledgement is explicit: the handler returned → ack; it raised → nak with a delay of
:data:`NAK_DELAY` s (redelivered, to any member); a member that dies holding a message lets
``ack_wait`` expire and the message goes to another member. After ``max_deliver`` deliveries
JetStream gives the message up; the last failure is logged as such.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import structlog
from nats.errors import Error as NatsError
from nats.js import api
from nats.js.errors import APIError, NotFoundError, ServiceUnavailableError

from beholder.bus.base import BusMessage, Handler
from beholder.config.cluster import ClusterSettings
from beholder.contracts.cluster import DurableStream, Streams, durable_consumer
from beholder.errors import BusError

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext

log = structlog.get_logger(__name__)

NAK_DELAY = 1.0
"""Seconds before a message whose handler raised is delivered again."""

_STREAM_IN_USE = 10058  # "stream name already in use with a different configuration"
_NO_JETSTREAM = (10039, 10076)  # "jetstream not enabled" (account / server)


def stream_config(stream: DurableStream, cluster: ClusterSettings) -> api.StreamConfig:
    """The JetStream configuration of ``stream`` under ``cluster``'s limits."""
    return api.StreamConfig(
        name=stream.name,
        subjects=list(stream.subjects),
        retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE,
        discard=api.DiscardPolicy.OLD,
        max_age=cluster.stream_max_age,
        max_bytes=cluster.stream_max_bytes,
        num_replicas=cluster.stream_replicas,
        duplicate_window=cluster.duplicate_window,
    )


async def check_jetstream(js: JetStreamContext, where: str) -> None:
    """Raise :class:`BusError` with a one-line reason unless the server has JetStream."""
    try:
        await js.account_info()
    except (NotFoundError, ServiceUnavailableError) as exc:  # nothing serves $JS.API
        raise BusError(detail=_no_js(where)) from exc
    except APIError as exc:
        if exc.err_code in _NO_JETSTREAM:
            raise BusError(detail=_no_js(where)) from exc
        raise BusError(detail=f"JetStream at {where} refused: {exc.description}") from exc
    except NatsError as exc:  # no responders / timeout: nothing answers $JS.API
        raise BusError(detail=_no_js(where)) from exc


def _no_js(where: str) -> str:
    return f"nats-server at {where} has no JetStream; start it with -js (and a store dir -sd)"


async def ensure_streams(js: JetStreamContext, cluster: ClusterSettings) -> None:
    """Create or update every durable stream (idempotent, concurrent-safe). Raises
    ``BusError`` when JetStream refuses a stream for another reason than a lost race."""
    for stream in Streams.ALL:
        config = stream_config(stream, cluster)
        try:
            await js.add_stream(config)
            continue
        except APIError as exc:
            if exc.err_code != _STREAM_IN_USE:
                raise BusError(detail=f"cannot create stream {stream.name}: {exc}") from exc
        try:
            await js.update_stream(config)
        except APIError as exc:
            # An immutable setting differs (storage…): the stream works as it is; say so.
            log.warning(
                "durable stream kept with its existing configuration",
                stream=stream.name,
                reason=exc.description,
            )


def consumer_config(stream: DurableStream, group: str, cluster: ClusterSettings) -> Any:
    """The push consumer of ``group`` on ``stream`` (see the module doc)."""
    name = durable_consumer(stream, group)
    return api.ConsumerConfig(
        durable_name=name,
        deliver_subject=f"_beholder.deliver.{name}",
        deliver_group=group,
        deliver_policy=api.DeliverPolicy.ALL,
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=cluster.ack_wait,
        max_deliver=cluster.max_deliver,
        max_ack_pending=cluster.max_ack_pending,
        filter_subject=stream.subjects[0] if len(stream.subjects) == 1 else None,
    )


class DurableConsumer:
    """One member of queue group ``group`` of the durable consumer of ``stream``: handler
    returned → ack, raised → nak (see the module doc). ``counters`` is the bus's stats
    dict (``delivered``, ``acked``, ``nacked``, ``redelivered``, ``handlerErrors``)."""

    def __init__(
        self,
        nc: Client,
        stream: DurableStream,
        group: str,
        handler: Handler,
        cluster: ClusterSettings,
        counters: dict[str, int],
        on_close: Any = None,
    ) -> None:
        self._nc = nc
        self.stream = stream
        self.group = group
        self.handler = handler
        self.cluster = cluster
        self.counters = counters
        self.name = durable_consumer(stream, group)
        self._sub: Any = None
        self._on_close = on_close
        self._lock = asyncio.Lock()
        # Handled concurrently, up to consumer_concurrency at once: one message at a time
        # made a member's throughput one database round trip per message (~90 status
        # events/s measured, bench/cluster_scale.py). When the slots are full the delivery
        # callback waits, so messages wait in the subscription (and past max_ack_pending, on
        # the server) instead of piling up as tasks.
        self._slots = asyncio.Semaphore(cluster.consumer_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        """Messages received and not yet handled."""
        return int(self._sub.pending_msgs) if self._sub is not None else 0

    async def backlog(self, timeout: float = 1.0) -> int:
        """Messages of the group's consumer not yet acknowledged, as the server counts them:
        stored and not yet delivered (``num_pending``) plus delivered and not acknowledged
        (``num_ack_pending``). Deliveries pause at ``max_ack_pending``, so this, not
        :attr:`pending`, shows a group that has fallen behind. ``timeout`` in seconds;
        raises ``BusError`` when the server does not answer."""
        try:
            info = await self._nc.jetstream().consumer_info(
                self.stream.name, self.name, timeout=timeout
            )
        except (NatsError, TimeoutError) as exc:
            raise BusError(detail=f"consumer {self.name}: {exc!r}") from exc
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def ensure(self) -> None:
        """Create the consumer if the server does not have it and subscribe to its deliver
        subject if not yet subscribed (idempotent). Raises ``BusError``."""
        async with self._lock:
            js = self._nc.jetstream()
            wanted = consumer_config(self.stream, self.group, self.cluster)
            try:
                info = await js.add_consumer(self.stream.name, wanted)
                config = info.config
            except APIError as exc:
                # Exists with other settings (another version's): bind to it as it is.
                try:
                    config = (await js.consumer_info(self.stream.name, self.name)).config
                except NatsError:
                    raise BusError(detail=f"consumer {self.name}: {exc}") from exc
                log.warning("durable consumer kept as it is", consumer=self.name, reason=str(exc))
            except NatsError as exc:
                raise BusError(detail=f"consumer {self.name}: {exc!r}") from exc
            if config.deliver_subject is None:  # a pull consumer of that name: not ours
                raise BusError(detail=f"consumer {self.name} is not a push consumer")
            if self._sub is None:
                self._sub = await self._nc.subscribe(
                    config.deliver_subject, queue=config.deliver_group or "", cb=self._on_msg
                )

    async def _on_msg(self, msg: Msg) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(self._handle(msg), name=f"durable:{self.name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def _handle(self, msg: Msg) -> None:
        c = self.counters
        c["delivered"] += 1
        try:
            delivery = msg.metadata.num_delivered
        except (NatsError, ValueError, IndexError):  # not a JetStream message (no ack reply)
            delivery = 1
        if delivery > 1:
            c["redelivered"] += 1
        bus_msg = BusMessage(
            subject=msg.subject, data=msg.data, headers=dict(msg.headers or {}), delivery=delivery
        )
        try:
            await self.handler(bus_msg)
        except Exception:
            c["handlerErrors"] += 1
            c["nacked"] += 1
            last = delivery >= self.cluster.max_deliver
            log.exception(
                "durable message given up after its last delivery"
                if last
                else "bus handler failed; message will be redelivered",
                subject=msg.subject,
                consumer=self.name,
                delivery=delivery,
            )
            with contextlib.suppress(NatsError):
                if last:
                    await msg.term()
                else:
                    await msg.nak(delay=NAK_DELAY)
            return
        with contextlib.suppress(NatsError):
            await msg.ack()
            c["acked"] += 1

    async def unsubscribe(self) -> None:
        """Leave the group (the consumer stays on the server for the other members)."""
        if self._on_close is not None:
            self._on_close(self)
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(NatsError):
                await sub.unsubscribe()
        if self._tasks:  # let the messages in hand finish (unacked ones are redelivered)
            await asyncio.wait(set(self._tasks), timeout=5.0)
