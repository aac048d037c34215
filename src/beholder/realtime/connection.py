"""One dashboard connection: subscriptions, heartbeat state and its bounded send path.

Delivery never awaits. :meth:`Connection.push` writes the pre-built frame straight to the
socket when the connection is idle and its transport is below the high-water mark (the
common case), otherwise appends to a per-connection backlog drained by a short-lived
flusher task that writes every queued frame in one ``writelines`` (one syscall).

Two bounds say that the client cannot keep up, and close it with 1013 (Try Again Later) so a
slow client never delays anyone else nor grows the server: more than ``ws_send_queue`` live
messages waiting, or more than ``ws_backlog_bytes`` bytes of frames waiting, whatever they
are (live, held during a replay, replies, replayed alerts) and including what the socket's
write buffer already holds. A connection therefore pins at most about ``ws_backlog_bytes``
(plus one frame) of server memory, however it is fed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import TYPE_CHECKING

import structlog

from beholder._compat.starlette import server_send
from beholder._compat.uvicorn import WriteTransport, raw_channel
from beholder.realtime.frames import Outgoing
from beholder.realtime.protocol import CLOSE_TRY_AGAIN_LATER

if TYPE_CHECKING:
    from pydantic import BaseModel
    from starlette.websockets import WebSocket

    from beholder.auth.roles import Principal

log = structlog.get_logger(__name__)

CLOSE_GRACE = 2.0
"""Seconds a close handshake may take before the socket is aborted (a stuck peer)."""


class _NoTransport:
    """Stand-in transport for connections without the fast path (never written to)."""

    def write(self, data: bytes) -> None:
        raise RuntimeError("no raw transport")

    def writelines(self, data: list[bytes]) -> None:
        raise RuntimeError("no raw transport")

    def is_closing(self) -> bool:
        return True

    def abort(self) -> None:
        return None

    def get_write_buffer_size(self) -> int:
        return 0


_NO_TRANSPORT = _NoTransport()


class Counters:
    """Hub-wide counters shared by every connection (read by :meth:`Hub.stats`)."""

    __slots__ = (
        "auth_failures",
        "broadcasts",
        "disconnected_dead",
        "disconnected_slow",
        "dropped",
        "expired",
        "invalid_messages",
        "refused",
        "replayed",
        "replays",
        "replays_refused",
        "sent",
    )

    def __init__(self) -> None:
        self.sent = 0
        self.dropped = 0
        self.broadcasts = 0
        self.disconnected_slow = 0
        self.disconnected_dead = 0
        self.auth_failures = 0
        self.expired = 0
        self.invalid_messages = 0
        self.replays = 0
        self.replayed = 0
        self.replays_refused = 0
        self.refused = 0


class Connection:
    """State of one accepted ``/ws`` connection (``__slots__``: ~1000s of these live at once).

    ``topics``: subscribed topic names. ``seen``: a message arrived since the last
    heartbeat tick; ``missed``: consecutive ticks without one. ``held``: live messages
    parked while a replay is in flight (``None`` otherwise). ``backlog``: messages waiting
    for the transport (``None`` when the fast path is free). ``queued_bytes``: bytes of the
    frames in ``backlog`` and ``held``, checked against ``byte_limit``.
    """

    __slots__ = (
        "_exempt",
        "backlog",
        "byte_limit",
        "close_task",
        "closing",
        "counters",
        "expiry",
        "flusher",
        "held",
        "idle",
        "missed",
        "opened_at",
        "pending_replay",
        "principal",
        "queue_limit",
        "queued_bytes",
        "raw",
        "seen",
        "topics",
        "transport",
        "websocket",
        "writable",
    )

    def __init__(
        self,
        websocket: WebSocket,
        queue_limit: int,
        counters: Counters,
        byte_limit: int = 4 * 1024 * 1024,
    ) -> None:
        self.websocket = websocket
        # The fast path needs the server's own ASGI ``send`` to find uvicorn's protocol
        # (library hooks, see beholder._compat). Unknown server or wrapped → ASGI sends.
        raw = self.raw = raw_channel(server_send(websocket))
        # Fast-path handles copied out of ``raw`` (dummies when absent; ``idle`` guards them).
        self.transport: WriteTransport = raw.transport if raw else _NO_TRANSPORT
        self.writable: asyncio.Event = raw.writable if raw else asyncio.Event()
        self.queue_limit = queue_limit
        self.byte_limit = byte_limit
        self.queued_bytes = 0
        self.counters = counters
        self.principal: Principal | None = None
        self.topics: set[str] = set()
        self.seen = True
        self.missed = 0
        self.opened_at = time.monotonic()  # alert gap fills skip younger connections
        self.closing = False
        self.backlog: deque[Outgoing] | None = None
        self._exempt = 0  # replayed/control items in the backlog, not counted against the bound
        self.flusher: asyncio.Task[None] | None = None
        self.held: list[Outgoing] | None = None
        self.pending_replay: str | None = None
        self.expiry: asyncio.TimerHandle | None = None
        self.close_task: asyncio.Task[None] | None = None
        self.idle = raw is not None  # True: push() may write straight to the transport

    @property
    def client(self) -> str:
        """``host:port`` of the peer, for logs."""
        client = self.websocket.scope.get("client")
        return f"{client[0]}:{client[1]}" if client else "?"

    # -- sending ---------------------------------------------------------------------------

    def push(self, out: Outgoing, live: bool = True) -> bool:
        """Send ``out`` without awaiting. ``live``: a broadcast (held during a replay and
        counted against ``queue_limit``); every frame, live or not, counts against
        ``byte_limit``.

        Returns ``False`` when this push overflowed a bound: the connection is then already
        closing with 1013 (counted in ``disconnected_slow``) and its backlog is freed.
        """
        if self.idle:
            # Hot path (one call per client per broadcast): no backlog, no replay hold, not
            # closing. is_closing() covers a peer's close: uvicorn closes the transport then.
            transport = self.transport
            if self.writable.is_set() and not transport.is_closing():
                try:
                    transport.write(out.frame)
                    return True
                except Exception:  # torn down under us: the receive loop sees the close
                    log.debug("hub write failed", client=self.client)
                self.counters.dropped += 1
                return True
        return self._push_slow(out, live)

    def _push_slow(self, out: Outgoing, live: bool) -> bool:
        if live and self.held is not None and not self.closing:
            self.held.append(out)
            self.queued_bytes += len(out.frame)
            if len(self.held) > self.queue_limit:
                return self._overflow("send queue overflow")
            return self._check_bytes()
        if self.closing or (self.raw is not None and not self.raw.is_open()):
            self.counters.dropped += 1
            return True
        if self.raw is not None and self.backlog is None and self.writable.is_set():
            try:  # idle except for a replay hold
                self.transport.write(out.frame)
            except Exception:
                self.counters.dropped += 1
            return True
        return self._enqueue(out, live)

    def _update_idle(self) -> None:
        self.idle = (
            self.raw is not None and self.backlog is None and self.held is None and not self.closing
        )

    def hold(self) -> None:
        """Park live messages (replay in flight) until :meth:`release` returns them."""
        self.held = []
        self.idle = False

    def release(self) -> list[Outgoing]:
        """End the hold; returns the parked live messages in arrival order (their bytes
        stop counting here: the caller pushes them again)."""
        held, self.held = self.held or [], None
        self.queued_bytes -= sum(len(o.frame) for o in held)
        self._update_idle()
        return held

    def _enqueue(self, out: Outgoing, live: bool) -> bool:
        backlog = self.backlog
        if backlog is None:
            backlog = self.backlog = deque()
            self.idle = False
        backlog.append(out)
        self.queued_bytes += len(out.frame)
        if not live:
            self._exempt += 1
        if self.flusher is None:
            self.flusher = asyncio.get_running_loop().create_task(self._flush())
        if len(backlog) > self.queue_limit + self._exempt:
            return self._overflow("send queue overflow")
        return self._check_bytes()

    def _check_bytes(self) -> bool:
        # What waits in the socket's write buffer is waiting for the client too: without it
        # a flusher that just handed the whole backlog to the transport would reset the
        # count while the memory is still held.
        waiting = self.queued_bytes + self.transport.get_write_buffer_size()
        if waiting > self.byte_limit:
            return self._overflow("send backlog over limit", waiting)
        return True

    def _overflow(self, reason: str, waiting: int | None = None) -> bool:
        """The client does not keep up: free what waits for it and close with 1013."""
        self.counters.disconnected_slow += 1
        log.warning(
            "hub client too slow; disconnecting",
            client=self.client,
            reason=reason,
            queue_limit=self.queue_limit,
            byte_limit=self.byte_limit,
            waiting_bytes=waiting if waiting is not None else self.queued_bytes,
        )
        dropped = len(self.backlog or ()) + len(self.held or ())
        self.counters.dropped += dropped
        if self.backlog is not None:
            self.backlog.clear()  # the flusher sees an empty deque and ends
        if self.held is not None:
            self.held = []
        self.queued_bytes = 0
        self.close_soon(CLOSE_TRY_AGAIN_LATER, reason)
        return False

    async def _flush(self) -> None:
        backlog = self.backlog
        raw = self.raw
        try:
            while backlog and not self.closing:
                if raw is not None:
                    await raw.writable.wait()  # set by uvicorn's resume_writing
                    if self.closing or not raw.is_open():
                        break
                    # everything queued goes out in one writev
                    frames = [o.frame for o in backlog]
                    backlog.clear()
                    self.queued_bytes -= sum(len(f) for f in frames)
                    raw.transport.writelines(frames)
                else:
                    out = backlog[0]
                    await self.websocket.send({"type": "websocket.send", "text": out.text})
                    if backlog and backlog[0] is out:  # not cleared by an overflow meanwhile
                        backlog.popleft()
                        self.queued_bytes -= len(out.frame)
        except Exception:  # disconnected while sending; the receive loop ends the connection
            log.debug("hub flush stopped", client=self.client)
        finally:
            if backlog:
                self.counters.dropped += len(backlog)
                self.queued_bytes -= sum(len(o.frame) for o in backlog)
                backlog.clear()
            if self.backlog is backlog:
                self.backlog = None
            self._exempt = 0
            self.flusher = None
            self._update_idle()

    # -- closing ---------------------------------------------------------------------------

    def close_soon(self, code: int, reason: str, final: BaseModel | None = None) -> None:
        """Stop delivering now and close in the background (``final`` is sent first).

        Idempotent. Safe from synchronous code (broadcast, timers, heartbeat).
        """
        if self.closing:
            return
        self.closing = True
        self.idle = False
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None
        self.close_task = asyncio.get_running_loop().create_task(self._close(code, reason, final))

    async def close(self, code: int, reason: str, final: BaseModel | None = None) -> None:
        """Close and wait (bounded by :data:`CLOSE_GRACE`) until the close frame is out."""
        self.close_soon(code, reason, final)
        if self.close_task is not None:
            with contextlib.suppress(Exception):
                await self.close_task

    async def _close(self, code: int, reason: str, final: BaseModel | None) -> None:
        if self.flusher is not None:
            self.flusher.cancel()
        raw = self.raw
        try:
            if raw is None:
                # ASGI only: a peer that never reads keeps this pending (nothing to abort);
                # it completes as soon as the peer drains or its TCP connection dies.
                await self._send_close(code, reason, final)
                return
            async with asyncio.timeout(CLOSE_GRACE):
                await self._send_close(code, reason, final)
        except TimeoutError:
            # The peer does not read (its buffers are full): give up on a clean close.
            log.info("hub close timed out; aborting", client=self.client, code=code)
            if raw is not None:
                raw.transport.abort()
        except Exception:  # already disconnected, or Starlette already saw a close
            log.debug("hub close skipped", client=self.client, code=code)

    async def _send_close(self, code: int, reason: str, final: BaseModel | None) -> None:
        if final is not None:
            out = Outgoing.reply(final)
            if self.raw is not None:
                if self.raw.is_open():
                    self.raw.transport.write(out.frame)  # same stream as every other frame
            else:
                await self.websocket.send({"type": "websocket.send", "text": out.text})
        # The close frame goes through ASGI so that uvicorn runs the closing handshake.
        await self.websocket.send({"type": "websocket.close", "code": code, "reason": reason})
