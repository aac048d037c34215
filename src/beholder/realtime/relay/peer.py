"""One accepted ``/api/streams/ws`` socket: who it is, its send queue, heartbeat state and
how it closes.

Everything the server sends to the socket goes through its :class:`~.queue.SendQueue`
(replies included), so there is one writer per socket and frames never interleave; a close
sends its final message through the queue, waits (bounded) for it to go out, then sends the
close frame through ASGI so that uvicorn runs the closing handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import TYPE_CHECKING

import structlog
from pydantic import BaseModel

from beholder._compat.starlette import server_send
from beholder._compat.uvicorn import raw_channel
from beholder.realtime.connection import CLOSE_GRACE
from beholder.realtime.relay import metrics
from beholder.realtime.relay.queue import Packet, SendQueue
from beholder.realtime.relay.wire import packet

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.websockets import WebSocket

    from beholder.auth.connections import Lease
    from beholder.auth.roles import Principal

log = structlog.get_logger(__name__)

_ids = itertools.count(1)


class RelayPeer:
    """State of one relay socket.

    ``client_type``: ``mobile`` once it registered a stream, ``dashboard``/``ml-service``
    once it subscribed (the last one wins for metrics), ``unknown`` before. ``seen``/
    ``missed``: heartbeat state. ``bad``: consecutive refused messages (abuse bound).
    ``streaming``: streams whose first frame this producer already sent; ``alert_streams``:
    streams it subscribed to as an ``ml-service`` that produces alerts.
    """

    __slots__ = (
        "_close_task",
        "alert_streams",
        "bad",
        "client_type",
        "closing",
        "connection_id",
        "expiry",
        "lease",
        "missed",
        "principal",
        "queue",
        "seen",
        "streaming",
        "websocket",
    )

    def __init__(
        self,
        websocket: WebSocket,
        queue_bytes: int,
        on_sent: Callable[[Packet], None] | None = None,
        on_dropped: Callable[[int], None] | None = None,
    ) -> None:
        self.websocket = websocket
        self.connection_id = f"r{next(_ids)}"
        self.client_type = "unknown"
        self.principal: Principal | None = None
        raw = raw_channel(server_send(websocket))
        self.queue = SendQueue(websocket.send, raw, queue_bytes, on_sent, on_dropped)
        self.seen = True
        self.missed = 0
        self.bad = 0
        self.closing = False
        self.streaming: set[str] = set()
        self.alert_streams: set[str] = set()
        self.lease: Lease | None = None
        self.expiry: asyncio.TimerHandle | None = None
        self._close_task: asyncio.Task[None] | None = None

    @property
    def principal_key(self) -> str:
        """``kind:id`` of the principal (``?`` before auth)."""
        return self.principal.key if self.principal is not None else "?"

    @property
    def client(self) -> str:
        """``host:port`` of the peer, for logs."""
        client = self.websocket.scope.get("client")
        return f"{client[0]}:{client[1]}" if client else "?"

    def set_client_type(self, client_type: str) -> None:
        """The first ``register``/``subscribe`` says what this socket is (metrics, figures);
        later ones do not change it."""
        if self.client_type == "unknown":
            self.client_type = client_type
            metrics.CONNECTIONS.labels(client_type).inc()

    def start(self) -> None:
        """Start the writer (after ``accept``)."""
        self.queue.start()

    def send(self, message: BaseModel) -> None:
        """Queue a control message (never awaits, never dropped)."""
        if not self.closing:
            self.queue.put(packet(message))

    # -- closing ---------------------------------------------------------------------------

    def close_soon(self, code: int, reason: str, final: BaseModel | None = None) -> None:
        """Stop receiving work, send ``final`` (if any) then close with ``code``, in the
        background. Idempotent; safe from synchronous code."""
        if self.closing:
            return
        if final is not None:
            self.queue.put(packet(final))
        self.closing = True
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None
        self._close_task = asyncio.get_running_loop().create_task(self._close(code, reason))

    async def close(self, code: int, reason: str, final: BaseModel | None = None) -> None:
        """:meth:`close_soon` and wait for the close frame to be out (bounded)."""
        self.close_soon(code, reason, final)
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Wait for a close started by :meth:`close_soon` (if any)."""
        if self._close_task is not None:
            with contextlib.suppress(Exception):
                await self._close_task

    async def _close(self, code: int, reason: str) -> None:
        await self.queue.drain(CLOSE_GRACE / 2)
        await self.queue.close()
        try:
            async with asyncio.timeout(CLOSE_GRACE):
                await self.websocket.send(
                    {"type": "websocket.close", "code": code, "reason": reason}
                )
        except TimeoutError:
            log.info("relay close timed out; aborting", client=self.client, code=code)
            raw = self.queue.raw
            if raw is not None:
                raw.transport.abort()
        except Exception:  # already disconnected
            log.debug("relay close skipped", client=self.client, code=code)

    async def release(self) -> None:
        """The socket ended: stop the writer (idempotent)."""
        self.closing = True
        if self.client_type != "unknown":
            metrics.CONNECTIONS.labels(self.client_type).dec()
            self.client_type = "closed"
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None
        await self.wait_closed()
        await self.queue.close()


__all__ = ["RelayPeer"]
