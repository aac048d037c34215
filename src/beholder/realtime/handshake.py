"""The sign-in phase of a hub ``/ws`` connection (DESIGN §7): the token comes in
``Sec-WebSocket-Protocol`` or in the first message ``{"type": "auth", "token", "lastAlertId"?}``
within ``ws_auth_timeout`` seconds; anything else closes the connection with the code of its
error (4401 unauthorized, 1008 policy, 1009 too big, 1011 internal)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import BaseModel
from starlette.types import Message

from beholder.auth.roles import Principal
from beholder.config import HubSettings
from beholder.errors import AppError, ErrorCode, public_code
from beholder.realtime.connection import Connection, Counters
from beholder.realtime.protocol import (
    CLOSE_INTERNAL,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_UNAUTHORIZED,
    ProtocolError,
    error_message,
    last_alert_id_of,
    token_of,
)

log = structlog.get_logger(__name__)

Authenticate = Callable[[str], Awaitable[Principal]]
Decode = Callable[[Connection, Message], "dict[str, Any] | None"]
RefusalMessage = Callable[[ErrorCode, str], BaseModel]
"""Builds the ``error`` message a refused connection gets before its close (the hub's
``error_message`` by default; the NVR agent socket sends its own shape)."""

_CLOSE_FOR_CODE = {
    ErrorCode.UNAUTHORIZED: CLOSE_UNAUTHORIZED,
    ErrorCode.PERMISSION_DENIED: CLOSE_POLICY,
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a socket was not signed in: ``code`` (public :class:`ErrorCode`) and a user-safe
    ``message``; ``too_big``: the first message was over the size limit (close 1009)."""

    code: ErrorCode
    message: str
    too_big: bool = False


FirstMessage = Callable[[], Awaitable["dict[str, Any] | None"]]


async def check_in(
    token: str | None,
    first_message: FirstMessage,
    authenticate: Authenticate,
    timeout: float,
    client: str,
) -> tuple[Principal, dict[str, Any] | None] | Refusal | None:
    """The sign-in check shared by the hub ``/ws`` and the relay ``/api/streams/ws``.

    ``token``: from the subprotocol, else read by ``first_message()`` (a decoded JSON object
    with a ``type``, ``None`` when the client left; may raise ``ProtocolError``), which must
    be ``{"type": "auth", "token"}``; all within ``timeout`` seconds. Returns ``(principal,
    the auth message or None)``, a :class:`Refusal`, or ``None`` when the client left.
    Never raises for client behaviour; an ``authenticate`` crash is refused as unavailable.
    """
    data: dict[str, Any] | None = None
    try:
        async with asyncio.timeout(timeout):
            if token is None:
                data = await first_message()
                if data is None:
                    return None
                if data["type"] != "auth":
                    raise ProtocolError(
                        'Send {"type": "auth", "token": "<token>"} first.',
                        ErrorCode.UNAUTHORIZED,
                        CLOSE_UNAUTHORIZED,
                    )
                token = token_of(data)
            principal = await authenticate(token)
        if principal.expires_at is not None and principal.expires_at <= time.time():
            return Refusal(ErrorCode.UNAUTHORIZED, "Your session has expired.")
        return principal, data
    except TimeoutError:
        return Refusal(ErrorCode.UNAUTHORIZED, "Authentication timed out.")
    except ProtocolError as exc:
        if exc.close_code == CLOSE_TOO_BIG:
            return Refusal(exc.code, exc.message, too_big=True)
        return Refusal(ErrorCode.UNAUTHORIZED, exc.message)
    except AppError as exc:  # Unauthorized and friends: user-safe message
        log.info("socket auth refused", client=client, code=exc.code.value, detail=exc.detail)
        return Refusal(public_code(exc.code), exc.message)
    except Exception:
        log.exception("socket authenticate failed", client=client)
        return Refusal(ErrorCode.SERVICE_UNAVAILABLE, "Sign-in is unavailable right now.")


async def sign_in(
    conn: Connection,
    token: str | None,
    authenticate: Authenticate,
    settings: HubSettings,
    counters: Counters,
    decode: Decode,
    refuse: RefusalMessage = error_message,
) -> tuple[Principal, str | None] | None:
    """``(principal, lastAlertId or None)`` once ``conn`` proved who it is; ``None`` when it
    left or was refused (an ``error`` message was sent and the close started, counted in
    ``counters.auth_failures``). ``token``: from the subprotocol, else read from the first
    message (``decode`` turns a received frame into a JSON object or raises ``ProtocolError``).
    Never raises for client behaviour (see :func:`check_in`). ``refuse(code, message)`` builds
    the ``error`` sent before the close."""

    async def first_message() -> dict[str, Any] | None:
        return decode(conn, await conn.websocket.receive())

    result = await check_in(
        token, first_message, authenticate, settings.ws_auth_timeout, conn.client
    )
    if result is None:
        return None
    if isinstance(result, Refusal):
        if result.too_big:
            counters.invalid_messages += 1
            await conn.close(CLOSE_TOO_BIG, "message too big", refuse(result.code, result.message))
            return None
        counters.auth_failures += 1
        close_code = _CLOSE_FOR_CODE.get(result.code, CLOSE_INTERNAL)
        await conn.close(close_code, "unauthorized", refuse(result.code, result.message))
        return None
    principal, data = result
    try:
        last_alert_id = last_alert_id_of(data) if data is not None else None
    except ProtocolError as exc:
        counters.auth_failures += 1
        await conn.close(
            CLOSE_UNAUTHORIZED, "unauthorized", refuse(ErrorCode.UNAUTHORIZED, exc.message)
        )
        return None
    return principal, last_alert_id
