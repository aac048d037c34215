"""The relay's per-consumer send path: one queue bounded in bytes, one writer task.

A producer's frame is framed once (:class:`Packet`: the complete unmasked WebSocket frame,
the same bytes for every consumer) and handed to each consumer's :class:`SendQueue` with
:meth:`SendQueue.put`, which never awaits: the producer's read loop never waits for a
consumer.

Bound: ``limit`` bytes per consumer (``BEHOLDER_RELAY_CONSUMER_QUEUE_BYTES``), counting the
frames waiting here plus what the socket's write buffer already holds. Over the bound,
**video** frames are dropped oldest-first (the newest frame always stays: latest wins);
**control** packets (alerts, status, errors, pings, replies) are never dropped and may
exceed the bound (counted in :attr:`SendQueue.over_bound`). A consumer therefore pins at
most about ``limit`` bytes of video plus its control messages.

Fast path (uvicorn's sans-I/O protocol, :mod:`beholder._compat.uvicorn`): while nothing is
queued and the transport's write buffer has room (``transport_bytes``: at most
:data:`TRANSPORT_BYTES` and never more than ``limit``), :meth:`SendQueue.put` writes the
pre-built frame straight to the transport, synchronously: no task switch, no copy per
consumer, the same cost as ``websockets.broadcast``. Beyond that room packets wait in the
queue (where video stays droppable) and the writer task moves them to the transport as it
drains (woken by the transport's ``writable`` event). So a consumer that keeps up costs one
``transport.write`` per frame; a lagging one holds at most ``transport_bytes`` (+ one frame)
in the transport and the rest, bounded, here. Elsewhere (no raw channel) every packet goes
through the writer task and plain ASGI sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from beholder._compat.uvicorn import RawChannel
from beholder.realtime.frames import text_frame

log = structlog.get_logger(__name__)

TRANSPORT_BYTES = 512 * 1024
"""Bytes a consumer's transport may buffer before further packets wait in its queue (about
five 100 KB frames; well above one frame so that a consumer that keeps up never waits)."""

_BINARY_FIN = 0x82  # FIN=1, opcode=0x2 (binary)
_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")


def binary_frame(payload: bytes) -> bytes:
    """A complete, unmasked, unfragmented WebSocket binary frame carrying ``payload``."""
    size = len(payload)
    if size < 126:
        header = bytes((_BINARY_FIN, size))
    elif size < 65536:
        header = _HEADER_16.pack(_BINARY_FIN, 126, size)
    else:
        header = _HEADER_64.pack(_BINARY_FIN, 127, size)
    return header + payload


class Packet:
    """One outgoing message for one or many consumers, framed once.

    ``frame``: the complete WebSocket frame (for the raw path); ``payload``: the message
    (``str`` for a text frame, ``bytes`` for a binary one, for the ASGI path); ``video``:
    True for a droppable video frame. ``size``: bytes it holds in a queue (len of frame).
    """

    __slots__ = ("frame", "payload", "size", "video")

    def __init__(self, payload: str | bytes, *, video: bool) -> None:
        if isinstance(payload, str):
            self.frame = text_frame(payload.encode())
        else:
            self.frame = binary_frame(payload)
        self.payload = payload
        self.size = len(self.frame)
        self.video = video

    @classmethod
    def text(cls, payload: bytes, *, video: bool = False) -> Packet:
        """A text message from its UTF-8 JSON ``payload``."""
        return cls(payload.decode(), video=video)

    def asgi(self) -> dict[str, Any]:
        """The ASGI ``websocket.send`` event of this packet."""
        if isinstance(self.payload, str):
            return {"type": "websocket.send", "text": self.payload}
        return {"type": "websocket.send", "bytes": self.payload}


Send = Callable[[dict[str, Any]], Awaitable[None]]


class SendQueue:
    """The send queue of one consumer socket (see the module doc).

    ``send``: the ASGI send of the socket (used when ``raw`` is ``None``); ``raw``: the
    fast-path channel or ``None``; ``limit``: bytes; ``transport_bytes``: what the transport
    may buffer before packets are queued here (raw path; default :data:`TRANSPORT_BYTES`,
    capped at ``limit``). Counters (since creation):
    ``sent`` packets handed to the socket (``frames_sent`` of them video), ``frames_dropped``
    video frames dropped under the bound, ``over_bound`` control packets queued while over
    the bound. ``on_dropped(n)`` is called for each drop (metrics).
    """

    __slots__ = (
        "_closed",
        "_items",
        "_raw",
        "_send",
        "_task",
        "_wake",
        "frames_dropped",
        "frames_sent",
        "limit",
        "on_dropped",
        "on_sent",
        "over_bound",
        "queued",
        "sent",
        "transport_bytes",
    )

    def __init__(
        self,
        send: Send,
        raw: RawChannel | None,
        limit: int,
        on_sent: Callable[[Packet], None] | None = None,
        on_dropped: Callable[[int], None] | None = None,
        transport_bytes: int = TRANSPORT_BYTES,
    ) -> None:
        self._send = send
        self._raw = raw
        self.limit = limit
        self.transport_bytes = min(transport_bytes, limit)
        self._items: deque[Packet] = deque()
        self.queued = 0
        self._wake = asyncio.Event()
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.frames_sent = 0
        self.frames_dropped = 0
        self.over_bound = 0
        self.on_sent = on_sent
        self.on_dropped = on_dropped

    @property
    def raw(self) -> RawChannel | None:
        """The fast-path channel of the socket, if any."""
        return self._raw

    @property
    def queued_bytes(self) -> int:
        """Bytes waiting for this consumer: queued here plus the socket's write buffer."""
        buffered = self._raw.transport.get_write_buffer_size() if self._raw is not None else 0
        return self.queued + buffered

    def __len__(self) -> int:
        return len(self._items)

    def start(self) -> None:
        """Start the writer task on the running loop (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._write(), name="relay-send")

    def put(self, packet: Packet) -> bool:
        """Hand ``packet`` to the socket or queue it, without awaiting; False when the queue
        is closed or the socket refused the write (not sent).

        Raw path with nothing queued and room in the transport: written now. Otherwise
        queued; a video packet over the bound drops the oldest queued video frames first
        (never the one just queued); a control packet is always queued."""
        if self._closed:
            return False
        raw = self._raw
        if raw is not None and not self._items and self._room(raw, packet.size):
            if not raw.is_open():
                return False
            try:
                raw.transport.write(packet.frame)
            except Exception:  # the peer went away; the receive loop ends the connection
                log.debug("relay direct write failed")
                return False
            self._count(packet)
            return True
        self._items.append(packet)
        self.queued += packet.size
        if self.queued_bytes > self.limit:
            if packet.video:
                self._drop_oldest_video(packet)
            else:
                self.over_bound += 1
        self._wake.set()
        return True

    def _room(self, raw: RawChannel, size: int) -> bool:
        """True when the transport may take ``size`` more bytes now: it stays within
        ``transport_bytes`` with them (or is empty), or flow control does not pause it
        (below its high-water mark, 64 KiB)."""
        buffered = raw.transport.get_write_buffer_size()
        return buffered + size <= self.transport_bytes or buffered == 0 or raw.writable.is_set()

    def _count(self, packet: Packet) -> None:
        self.sent += 1
        if packet.video:
            self.frames_sent += 1
        if self.on_sent is not None:
            self.on_sent(packet)

    def _drop_oldest_video(self, newest: Packet) -> None:
        items = self._items
        dropped = 0
        kept: deque[Packet] = deque()
        # One pass, oldest first, until under the bound; control packets and the newest
        # frame are kept in order.
        while items and self.queued_bytes > self.limit:
            item = items.popleft()
            if item.video and item is not newest:
                self.queued -= item.size
                dropped += 1
            else:
                kept.append(item)
        kept.extend(items)
        self._items = kept
        if dropped:
            self.frames_dropped += dropped
            if self.on_dropped is not None:
                self.on_dropped(dropped)

    async def close(self) -> None:
        """Stop the writer (what is still queued is discarded) and wait for it."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        self._items.clear()
        self.queued = 0

    async def drain(self, timeout: float) -> None:
        """Wait until everything queued was handed to the socket (at most ``timeout`` s)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self._items and not self._closed and self._task is not None:
                    if self._task.done():
                        return
                    await asyncio.sleep(0.01)

    async def _write(self) -> None:
        raw = self._raw
        try:
            while not self._closed:
                items = self._items  # _drop_oldest_video replaces the deque
                if not items:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                if raw is not None:
                    if not self._room(raw, items[0].size):
                        # paused (not writable): wait for uvicorn's resume_writing
                        await raw.writable.wait()
                        continue
                    if not raw.is_open():
                        return
                    # as many as the transport has room for, in one go (no await between)
                    while items and self._room(raw, items[0].size):
                        packet = items.popleft()
                        self.queued -= packet.size
                        raw.transport.write(packet.frame)
                        self._count(packet)
                else:
                    packet = items.popleft()
                    self.queued -= packet.size
                    await self._send(packet.asgi())
                    self._count(packet)
        except asyncio.CancelledError:
            raise
        except Exception:  # the peer went away; the receive loop ends the connection
            log.debug("relay writer stopped")
        finally:
            self._items.clear()
            self.queued = 0


__all__ = ["Packet", "SendQueue", "binary_frame"]
