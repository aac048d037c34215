"""Fast path: write pre-built frames straight to the socket under uvicorn's sans-I/O protocol.

Going through ASGI costs a dict, a coroutine, an ``Event.wait`` and a per-connection
re-framing by the ``websockets`` protocol object for every message and every client; at
1000 clients that is most of the fan-out CPU. Under uvicorn's ``websockets-sansio``
implementation the ASGI ``send`` callable is a bound method of the connection's protocol,
which exposes its asyncio transport, its sans-I/O ``ServerProtocol`` and a ``writable``
event driven by the transport's flow control. When no extension was negotiated a data
frame needs no per-connection state, so writing the same bytes to each transport is
exactly what the protocol would have written.

Starlette's exception middleware wraps ``send`` in a pass-through closure (it only watches
``http.response.start``); :func:`raw_channel` looks through that one known wrapper, by its
module and qualified name, and through nothing else.

Anything else (another ASGI server, ``ws="websockets"``/``"wsproto"``, a middleware that
wraps ``send``, a negotiated permessage-deflate) yields ``None`` and the hub uses plain
ASGI sends for that connection: slower, same behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from websockets.protocol import State
from websockets.server import ServerProtocol


class WriteTransport(Protocol):
    """The subset of an asyncio (or uvloop) transport the fast path uses."""

    def write(self, data: bytes) -> None: ...

    def writelines(self, data: list[bytes]) -> None: ...

    def is_closing(self) -> bool: ...

    def abort(self) -> None: ...


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


# Known pure pass-through ``send`` wrappers: (module, qualname) -> name of the wrapped callable.
_PASS_THROUGH = {
    (
        "starlette._exception_handler",
        "wrap_app_handling_exceptions.<locals>.wrapped_app.<locals>.sender",
    ): "send",
}


def _unwrap(send: Any) -> Any:
    for _ in range(4):
        key = (getattr(send, "__module__", None), getattr(send, "__qualname__", None))
        name = _PASS_THROUGH.get(key)  # type: ignore[arg-type]
        code = getattr(send, "__code__", None)
        if name is None or code is None or name not in code.co_freevars:
            return send
        send = send.__closure__[code.co_freevars.index(name)].cell_contents
    return send


def raw_channel(send: Callable[[Any], Awaitable[None]] | None) -> RawChannel | None:
    """The raw channel behind an ASGI ``send`` callable, or ``None`` when unsafe/unknown.

    Call after ``websocket.accept`` (extensions are negotiated during the handshake).
    """
    send = _unwrap(send)
    owner = getattr(send, "__self__", None)
    if owner is None or getattr(send, "__name__", None) != "send":
        return None
    transport = getattr(owner, "transport", None)
    writable = getattr(owner, "writable", None)
    protocol = getattr(owner, "conn", None)
    if not isinstance(protocol, ServerProtocol) or not isinstance(writable, asyncio.Event):
        return None
    if protocol.extensions:  # e.g. permessage-deflate: frames differ per connection
        return None
    if not all(callable(getattr(transport, m, None)) for m in ("write", "writelines", "abort")):
        return None
    channel = RawChannel(cast(WriteTransport, transport), writable, protocol)
    return channel if channel.is_open() else None
