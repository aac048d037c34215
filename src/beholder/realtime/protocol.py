"""The hub's wire protocol (DESIGN §6/§7): client message parsing, topics, close codes.

Client → server (JSON text frames, objects with a ``type``)::

    {"type": "auth", "token": "<JWT or API key>", "lastAlertId"?: "<id>"}   # first, always
    {"type": "subscribe", "topics": ["cameras", "alerts", "camera:<id>", ...], "lastAlertId"?}
    {"type": "unsubscribe", "topics": [...]}
    {"type": "replay", "lastAlertId": "<id>"}
    {"type": "pong"} | {"type": "ping"}

Server → client: the :data:`beholder.contracts.hub.HubMessage` union (``auth-ok``,
``subscribed``, ``unsubscribed``, ``replayed``, ``ping``, ``pong``, ``error`` and the
broadcasts ``camera-status-update``, ``face-detection-alert``, ``health-update``, …).

Bounds (``Settings.hub``), so that no client can make the server hold more than a bounded
amount for it:

* before the upgrade: at most ``ws_unauthenticated_per_client`` connections per client
  address may be waiting to authenticate; one more is refused with **HTTP 429**
  ``RATE_LIMIT_EXCEEDED`` in the one error shape (with ``Retry-After``) and never becomes a
  WebSocket. Authenticating (or failing to) frees the place.
* client → server: one message at most ``ws_max_message_bytes`` (close 1009); text frames
  must be UTF-8 (close 1007).
* server → client: per connection, at most ``ws_send_queue`` live messages and
  ``ws_backlog_bytes`` bytes of frames waiting to be sent (replies, replayed alerts and
  what the socket buffer holds included); a client that does not read is closed with
  **1013** (Try Again Later) and can reconnect with ``lastAlertId``.
* ``replay`` (and ``lastAlertId`` on ``subscribe``): at most ``ws_replay_rate`` per
  connection; one more is answered ``{"type": "error", "code": "RATE_LIMIT_EXCEEDED"}``
  and not run; the connection stays open.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from beholder.contracts import hub as hub_messages
from beholder.contracts.hub import HubError
from beholder.errors import AppError, ErrorCode

# Close codes. 4401/4408 mirror HTTP 401/408 in the private-use range (RFC 6455 §7.4.2).
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN_LATER = 1013  # slow consumer: its send queue or byte backlog overflowed
CLOSE_UNAUTHORIZED = 4401
CLOSE_HEARTBEAT = 4408  # no pong for ws_missed_pongs pings

SUBPROTOCOL = "beholder"
BASE_TOPICS = frozenset({"cameras", "alerts", "health", "nvrs", "stats", "streams"})
_CANONICAL = {t: t for t in BASE_TOPICS}
CAMERA_PREFIX = "camera:"
MAX_TOPICS = 256  # per connection; bounds memory a client can make the hub hold
_CAMERA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_MAX_ID = 128
_MAX_TOKEN = 8192


class ProtocolError(AppError):
    """A client message the hub refuses (an :class:`AppError`: ``code``, user-safe
    ``message``). ``close_code`` set → the connection is closed."""

    def __init__(
        self, message: str, code: ErrorCode = ErrorCode.INVALID_INPUT, close_code: int | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.close_code = close_code


def error_message(code: ErrorCode, message: str, topics: list[str] | None = None) -> HubError:
    """The hub's ``error`` message for ``code``; ``message`` must be user-safe."""
    return hub_messages.error(code.value, message, topics)


def parse_text(text: str, max_bytes: int) -> dict[str, Any]:
    """Decode one client text message into a JSON object with a string ``type``.

    Raises :class:`ProtocolError`: oversized (> ``max_bytes`` UTF-8 bytes, close 1009),
    malformed JSON, not an object, or no ``type``.
    """
    # len(str) <= UTF-8 length <= 4 * len(str): only encode when it could matter.
    if len(text) > max_bytes or (len(text) * 4 > max_bytes and len(text.encode()) > max_bytes):
        raise ProtocolError(
            f"Message too large (limit {max_bytes} bytes).", close_code=CLOSE_TOO_BIG
        )
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProtocolError("Message is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ProtocolError("Message must be a JSON object.")
    if not isinstance(data.get("type"), str):
        raise ProtocolError('Message needs a string "type".')
    return data


def token_of(data: dict[str, Any]) -> str:
    """The token of an ``auth`` message; raises :class:`ProtocolError` (UNAUTHORIZED)."""
    token = data.get("token")
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN:
        raise ProtocolError(
            'Send {"type": "auth", "token": "<token>"} first.',
            ErrorCode.UNAUTHORIZED,
            CLOSE_UNAUTHORIZED,
        )
    return token


def last_alert_id_of(data: dict[str, Any], required: bool = False) -> str | None:
    """``lastAlertId`` of a message (string ≤ 128 chars) or ``None``; raises ProtocolError."""
    value = data.get("lastAlertId")
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > _MAX_ID:
        raise ProtocolError('"lastAlertId" must be an alert id string.')
    return value


def is_valid_topic(topic: object) -> bool:
    """True for a base topic or ``camera:<id>`` (id: 1 to 128 of ``[A-Za-z0-9_.:-]``)."""
    if not isinstance(topic, str):
        return False
    if topic in BASE_TOPICS:
        return True
    return topic.startswith(CAMERA_PREFIX) and bool(_CAMERA_ID.fullmatch(topic, len(CAMERA_PREFIX)))


def split_topics(data: dict[str, Any]) -> tuple[list[str], list[str]]:
    """``(valid, invalid)`` topics of a (un)subscribe message, de-duplicated, order kept.

    Raises :class:`ProtocolError` when ``topics`` is not a list (or is absurdly long).
    """
    topics = data.get("topics")
    if not isinstance(topics, list) or len(topics) > MAX_TOPICS:
        raise ProtocolError(f'"topics" must be a list of at most {MAX_TOPICS} topic names.')
    valid: list[str] = []
    invalid: list[str] = []
    for topic in topics:
        if is_valid_topic(topic):
            if topic not in valid:
                # the shared constant, not the parsed copy: ~1000s of connections hold these
                valid.append(_CANONICAL.get(topic) or topic)
        else:
            invalid.append(topic if isinstance(topic, str) and len(topic) <= 200 else "?")
    return valid, invalid


def carries_alerts(topics: set[str]) -> bool:
    """True when a subscription set receives alerts (``alerts`` or any camera topic)."""
    return "alerts" in topics or any(t.startswith(CAMERA_PREFIX) for t in topics)


def subprotocol_token(
    subprotocols: list[str], names: tuple[str, ...] = (SUBPROTOCOL,)
) -> tuple[str | None, str | None]:
    """``(token, accepted_subprotocol)`` from ``Sec-WebSocket-Protocol: <name>, <token>``
    (``name`` one of ``names``, the first offered wins; the hub's is ``beholder``).

    Browsers cannot set headers on a WebSocket, so the token may ride as a second
    subprotocol; the server accepts the name (never echoes the token).
    """
    name = next((p for p in subprotocols if p in names), None)
    if name is None:
        return None, None
    rest = [p for p in subprotocols if p != name]
    return (rest[0] if rest else None), name
