"""uvicorn: write pre-built frames straight to the socket (a speed hook: warns once).

Going through ASGI costs a dict, a coroutine, an ``Event.wait`` and a per-connection
re-framing by the ``websockets`` protocol object for every message and every client; at
1000 clients that is most of the fan-out CPU. Under uvicorn's ``websockets-sansio``
implementation the ASGI ``send`` callable is a bound method of the connection's protocol,
which exposes (privately) its asyncio transport, its sans-I/O ``ServerProtocol`` and a
``writable`` event driven by the transport's flow control. When no extension was negotiated
a data frame needs no per-connection state, so writing the same bytes to each transport is
exactly what the protocol would have written.

Anything else (another ASGI server, ``ws="websockets"``/``"wsproto"``, a middleware that
wraps ``send``, a negotiated permessage-deflate) yields ``None`` and the hub uses plain ASGI
sends for that connection: slower, same behaviour. When the server *is* uvicorn's
sans-I/O protocol but its attributes moved, one warning is logged per process.
Verified against uvicorn 0.54 (``tests/unit/test_compat.py``, ``tests/integration/test_hub.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State
from websockets.server import ServerProtocol

from beholder._compat import warn_once

_SANSIO_MODULE = "uvicorn.protocols.websockets.websockets_sansio_impl"

log = logging.getLogger(__name__)


class WriteTransport(Protocol):
    """The subset of an asyncio (or uvloop) transport the fast path uses."""

    def write(self, data: bytes) -> None: ...

    def writelines(self, data: list[bytes]) -> None: ...

    def is_closing(self) -> bool: ...

    def abort(self) -> None: ...

    def get_write_buffer_size(self) -> int: ...


@dataclass(slots=True, frozen=True)
class RawChannel:
    """Direct access to one accepted connection.

    ``writable`` is set while the transport is below its high-water mark (uvicorn's
    ``pause_writing``/``resume_writing`` drive it); ``protocol`` is the sans-I/O state
    machine, consulted so that nothing is written after a close frame.
    """

    transport: WriteTransport
    writable: asyncio.Event
    protocol: ServerProtocol

    def is_open(self) -> bool:
        """True while data frames may still be written."""
        return self.protocol.state is State.OPEN and not self.transport.is_closing()


def raw_channel(send: Callable[[Any], Awaitable[None]] | None) -> RawChannel | None:
    """The raw channel behind the server's ASGI ``send`` (already unwrapped, see
    :func:`beholder._compat.starlette.server_send`), or ``None`` when unsafe/unknown.

    Call after ``websocket.accept`` (extensions are negotiated during the handshake).
    """
    owner = getattr(send, "__self__", None)
    if owner is None or getattr(send, "__name__", None) != "send":
        return None
    transport = getattr(owner, "transport", None)
    writable = getattr(owner, "writable", None)
    protocol = getattr(owner, "conn", None)
    if not (
        isinstance(protocol, ServerProtocol)
        and isinstance(writable, asyncio.Event)
        and all(
            callable(getattr(transport, m, None))
            for m in ("write", "writelines", "abort", "get_write_buffer_size")
        )
    ):
        if any(c.__module__ == _SANSIO_MODULE for c in type(owner).__mro__):
            warn_once(
                "uvicorn.sansio",
                "uvicorn internals changed (%s.%s transport/writable/conn); the hub uses "
                "plain ASGI sends",
                _SANSIO_MODULE,
                type(owner).__qualname__,
            )
        return None
    if protocol.extensions:  # e.g. permessage-deflate: frames differ per connection
        return None
    channel = RawChannel(cast(WriteTransport, transport), writable, protocol)
    return channel if channel.is_open() else None


class HubWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol without its two faults on a text message that
    is not UTF-8 (found by tests/integration/test_hub_fuzz.py).

    uvicorn 0.54 decodes the message in ``send_receive_event_to_app``; on failure it logs an
    ERROR with a traceback (any anonymous client can then write one traceback per frame to
    the error log) and, when the connection is already closing, its ``send_close(1007)``
    raises ``InvalidState`` out of ``data_received`` (asyncio logs a fatal protocol error).
    Here the message is checked first: an open connection is closed with 1007 (RFC 6455
    §8.1) after one INFO line, a closing one just drops it. Anything else is uvicorn's own.
    Pass the class as ``uvicorn.Config(ws=...)``.
    """

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                self.frames = []
                if self.conn.state is State.OPEN:
                    log.info("websocket client sent invalid UTF-8; closing with 1007")
                    self.conn.send_close(1007, "invalid UTF-8")
                    self.handle_parser_exception()
                return
        super().send_receive_event_to_app()


__all__ = ["HubWebSocketProtocol", "RawChannel", "WriteTransport", "raw_channel"]
