"""What the hub lets in: unauthenticated connections per client address, replays per
connection.

An upgrade costs the server a task, a socket and its buffers before the client has proved
anything; :class:`Admission` caps how many of those one address may hold at once
(``ws_unauthenticated_per_client``), and :func:`refuse` answers the one over the cap with
HTTP 429 in the one error shape *before* the upgrade, so it never becomes a connection.
A replay costs a database query and up to ``alert_replay_limit`` frames;
:class:`ReplayLimiter` spaces them per connection (``ws_replay_rate``, ``limits``' moving
window).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import orjson
import structlog
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.responses import Response

from beholder.contracts.wire import new_id
from beholder.errors import ErrorCode, error_body
from beholder.realtime.protocol import CLOSE_TRY_AGAIN_LATER

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

    from beholder.realtime.connection import Connection

log = structlog.get_logger(__name__)

REFUSED_MESSAGE = "Too many connections waiting to sign in from your address. Try again later."
RETRY_AFTER_S = 5
"""``Retry-After`` of a refused upgrade: about the time an auth phase takes at most."""


def client_host(websocket: WebSocket) -> str:
    """The peer's address (no port): the key of the unauthenticated cap."""
    client = websocket.scope.get("client")
    return str(client[0]) if client else "?"


class Admission:
    """Connections in the auth phase, per client address; at most ``limit`` each.

    :meth:`enter` before accepting (no await in between with the check), :meth:`leave`
    exactly once when the connection authenticates or ends. Event-loop only.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._by_host: dict[str, int] = {}

    @property
    def total(self) -> int:
        """Connections in the auth phase now, all addresses."""
        return sum(self._by_host.values())

    def enter(self, host: str) -> bool:
        """Count one more for ``host``; ``False`` (nothing counted) when it is at the cap."""
        n = self._by_host.get(host, 0)
        if n >= self.limit:
            return False
        self._by_host[host] = n + 1
        return True

    def leave(self, host: str) -> None:
        """One of ``host``'s connections left the auth phase."""
        n = self._by_host.get(host, 0) - 1
        if n > 0:
            self._by_host[host] = n
        else:
            self._by_host.pop(host, None)


async def refuse(websocket: WebSocket, host: str, limit: int) -> None:
    """Refuse an upgrade over the cap: HTTP 429 ``RATE_LIMIT_EXCEEDED`` in the one error
    shape with ``Retry-After`` (ASGI WebSocket Denial Response), or, on a server without
    that extension, a close before accept (the server answers 403). Never raises."""
    cid = new_id()
    log.warning(
        "hub upgrade refused: unauthenticated connections per address",
        client=host,
        limit=limit,
        correlation_id=cid,
    )
    body = orjson.dumps(error_body(ErrorCode.RATE_LIMIT_EXCEEDED, REFUSED_MESSAGE, cid))
    response = Response(
        body,
        status_code=429,
        media_type="application/json",
        headers={"Retry-After": str(RETRY_AFTER_S), "X-Correlation-ID": cid},
    )
    try:
        if "websocket.http.response" in (websocket.scope.get("extensions") or {}):
            await websocket.send_denial_response(response)
        else:
            await websocket.close(code=CLOSE_TRY_AGAIN_LATER)
    except Exception:  # the client is already gone
        log.debug("hub refusal not delivered", client=host)


class ReplayLimiter:
    """Replays per connection under ``rate`` (``limits`` notation, e.g. ``"6/minute"``).

    Each connection gets its own key for its lifetime (not its ``id()``, which a later
    connection may reuse while the window of the first is still running)."""

    def __init__(self, rate: str) -> None:
        self.item: RateLimitItem = parse(rate)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._keys: dict[Connection, str] = {}
        self._next = itertools.count()

    def hit(self, conn: Connection) -> bool:
        """Count one replay of ``conn``; ``False`` when it is over the rate (not counted)."""
        key = self._keys.get(conn)
        if key is None:
            key = self._keys[conn] = str(next(self._next))
        return bool(self._limiter.hit(self.item, "replay", key))

    def forget(self, conn: Connection) -> None:
        """Drop ``conn``'s window (it closed)."""
        key = self._keys.pop(conn, None)
        if key is not None:
            self._limiter.clear(self.item, "replay", key)
