"""Starlette: the server's own ASGI ``send`` behind a ``WebSocket`` (a speed hook: warns once).

The hub's fast path (:mod:`.uvicorn`) needs the callable the server handed to the app.
Starlette keeps it as ``WebSocket._send`` (private) and its exception middleware wraps it in
a pass-through closure (it only watches ``http.response.start``); :func:`server_send` looks
through that one known wrapper, by its module and qualified name, and through nothing else.
Verified against Starlette 1.x (``tests/unit/test_compat.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from beholder._compat import warn_once

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

Send = Callable[[Any], Awaitable[None]]

# Known pure pass-through ``send`` wrappers: (module, qualname) -> name of the wrapped callable.
_PASS_THROUGH = {
    (
        "starlette._exception_handler",
        "wrap_app_handling_exceptions.<locals>.wrapped_app.<locals>.sender",
    ): "send",
}


def unwrap_send(send: Any) -> Any:
    """``send`` with Starlette's known pass-through wrappers peeled off (at most 4)."""
    for _ in range(4):
        key = (getattr(send, "__module__", None), getattr(send, "__qualname__", None))
        name = _PASS_THROUGH.get(key)  # type: ignore[arg-type]
        code = getattr(send, "__code__", None)
        if name is None or code is None or name not in code.co_freevars:
            return send
        send = send.__closure__[code.co_freevars.index(name)].cell_contents
    return send


def server_send(websocket: WebSocket) -> Send | None:
    """The ASGI ``send`` the server gave for ``websocket``, or ``None`` (warned once) when
    this Starlette no longer keeps it where the hook looks."""
    send = getattr(websocket, "_send", None)
    if send is None or not callable(send):
        warn_once(
            "starlette.websocket_send",
            "Starlette internals changed (WebSocket._send); the hub uses plain ASGI sends",
        )
        return None
    unwrapped: Send = unwrap_send(send)
    return unwrapped


__all__ = ["server_send", "unwrap_send"]
