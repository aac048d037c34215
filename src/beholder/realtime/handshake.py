"""The sign-in phase of a hub ``/ws`` connection (DESIGN §7): the token comes in
``Sec-WebSocket-Protocol`` or in the first message ``{"type": "auth", "token", "lastAlertId"?}``
within ``ws_auth_timeout`` seconds; anything else closes the connection with the code of its
error (4401 unauthorized, 1008 policy, 1009 too big, 1011 internal)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
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
Refusal = Callable[[ErrorCode, str], BaseModel]
"""Builds the ``error`` message a refused connection gets before its close (the hub's
``error_message`` by default; the NVR agent socket sends its own shape)."""

_CLOSE_FOR_CODE = {
    ErrorCode.UNAUTHORIZED: CLOSE_UNAUTHORIZED,
    ErrorCode.PERMISSION_DENIED: CLOSE_POLICY,
}


async def sign_in(
    conn: Connection,
    token: str | None,
    authenticate: Authenticate,
    settings: HubSettings,
    counters: Counters,
    decode: Decode,
    refuse: Refusal = error_message,
) -> tuple[Principal, str | None] | None:
    """``(principal, lastAlertId or None)`` once ``conn`` proved who it is; ``None`` when it
    left or was refused (an ``error`` message was sent and the close started, counted in
    ``counters.auth_failures``). ``token``: from the subprotocol, else read from the first
    message (``decode`` turns a received frame into a JSON object or raises ``ProtocolError``).
    Never raises for client behaviour; an ``authenticate`` crash is refused as unavailable.
    ``refuse(code, message)`` builds the ``error`` sent before the close."""
    last_alert_id: str | None = None
    refusal: tuple[ErrorCode, str]
    try:
        async with asyncio.timeout(settings.ws_auth_timeout):
            if token is None:
                data = decode(conn, await conn.websocket.receive())
                if data is None:
                    return None
                if data["type"] != "auth":
                    raise ProtocolError(
                        'Send {"type": "auth", "token": "<token>"} first.',
                        ErrorCode.UNAUTHORIZED,
                        CLOSE_UNAUTHORIZED,
                    )
                token = token_of(data)
                last_alert_id = last_alert_id_of(data)
            principal = await authenticate(token)
        if principal.expires_at is not None and principal.expires_at <= time.time():
            refusal = (ErrorCode.UNAUTHORIZED, "Your session has expired.")
        else:
            return principal, last_alert_id
    except TimeoutError:
        refusal = (ErrorCode.UNAUTHORIZED, "Authentication timed out.")
    except ProtocolError as exc:
        if exc.close_code == CLOSE_TOO_BIG:
            counters.invalid_messages += 1
            await conn.close(CLOSE_TOO_BIG, "message too big", refuse(exc.code, exc.message))
            return None
        refusal = (ErrorCode.UNAUTHORIZED, exc.message)
    except AppError as exc:  # Unauthorized and friends: user-safe message
        log.info("hub auth refused", client=conn.client, code=exc.code.value, detail=exc.detail)
        refusal = (public_code(exc.code), exc.message)
    except Exception:
        log.exception("hub authenticate failed", client=conn.client)
        refusal = (ErrorCode.SERVICE_UNAVAILABLE, "Sign-in is unavailable right now.")
    code, message = refusal
    counters.auth_failures += 1
    close_code = _CLOSE_FOR_CODE.get(code, CLOSE_INTERNAL)
    await conn.close(close_code, "unauthorized", refuse(code, message))
    return None
