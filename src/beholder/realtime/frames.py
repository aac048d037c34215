"""Outgoing hub messages, serialized once and framed once for every connection.

A server-to-client WebSocket text frame is not masked (RFC 6455 §5.1), so without a
per-connection extension (permessage-deflate) the bytes on the wire are the same for every
client. :class:`Outgoing` therefore holds the JSON payload *and* the complete frame; the
fast path (:mod:`beholder._compat.uvicorn`) writes ``frame`` straight to each socket.
"""

from __future__ import annotations

import struct
from typing import Any

import orjson
from pydantic import BaseModel

from beholder.contracts.hub import wire

_TEXT_FIN = 0x81  # FIN=1, opcode=0x1 (text)
_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")


def text_frame(payload: bytes) -> bytes:
    """A complete, unmasked, unfragmented WebSocket text frame carrying ``payload`` (UTF-8)."""
    size = len(payload)
    if size < 126:
        header = bytes((_TEXT_FIN, size))
    elif size < 65536:
        header = _HEADER_16.pack(_TEXT_FIN, 126, size)
    else:
        header = _HEADER_64.pack(_TEXT_FIN, 127, size)
    return header + payload


_JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC  # datetimes: UTC, "Z" suffix (DESIGN §3)


def dumps(message: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON of a hub message; datetimes become ISO 8601 UTC with ``Z``.

    Raises ``TypeError`` (``orjson.JSONEncodeError``) for values JSON cannot carry.
    """
    return orjson.dumps(message, option=_JSON_OPTIONS)


class Outgoing:
    """One message for one or many connections: pre-built ``frame`` (its JSON ``payload``
    is a view of it: a queued message holds its bytes once, and the backlog bound counts
    what is really held).

    ``alert_id`` is the alert's id for alert messages (used to de-duplicate replay against
    live delivery), else ``None``. ``text`` is decoded lazily for the ASGI fallback path.
    """

    __slots__ = ("_start", "_text", "alert_id", "frame")

    def __init__(self, payload: bytes, alert_id: str | None = None) -> None:
        self.frame = text_frame(payload)
        self._start = len(self.frame) - len(payload)
        self.alert_id = alert_id
        self._text: str | None = None

    @property
    def payload(self) -> bytes:
        """The JSON payload (UTF-8), a copy taken from ``frame``."""
        return self.frame[self._start :]

    @classmethod
    def of(cls, message: dict[str, Any], alert_id: str | None = None) -> Outgoing:
        """Serialize ``message`` (the wire form of a hub message, e.g. received over the bus)
        once; see :func:`dumps` for errors."""
        return cls(dumps(message), alert_id)

    @classmethod
    def reply(cls, message: BaseModel) -> Outgoing:
        """Serialize a hub message model (:data:`beholder.contracts.hub.HubMessage`) once."""
        return cls(dumps(wire(message)))

    @property
    def text(self) -> str:
        """The payload as ``str`` (ASGI ``websocket.send`` wants text for text frames)."""
        if self._text is None:
            self._text = str(memoryview(self.frame)[self._start :], "utf-8")
        return self._text


def alert_id_of(message: dict[str, Any]) -> str | None:
    """The alert id of an alert hub message (``id``, or ``alertId`` as some producers name it)."""
    value = message.get("id")
    if value is None:
        value = message.get("alertId")
    return None if value is None else str(value)
