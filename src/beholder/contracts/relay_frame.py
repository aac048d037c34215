"""The binary video frame of the mobile relay ``/api/streams/ws`` (issue 10), both ways.

A binary WebSocket message is a 28-byte header followed by the JPEG bytes; integers are
big-endian::

    offset  size  field
    0       1     version    = 1
    1       1     codec      = 1 (JPEG)
    2       2     flags      = 0 (reserved; must be 0 in version 1)
    4       16    stream id  (UUID, 16 raw bytes)
    20      8     timestamp  (unix ms, uint64: capture time on the producer)
    28      …     payload    (one JPEG image: starts with FF D8, ends with FF D9)

The same bytes are the payload of ``relay.frames.<streamId>`` on the bus. The web app and
``examples/`` implement the same layout.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from beholder.errors import ErrorCode

VERSION = 1
CODEC_JPEG = 1
HEADER = struct.Struct(">BBH16sQ")
HEADER_SIZE = HEADER.size  # 28
_MAX_TS = 2**64 - 1


class FrameError(ValueError):
    """A binary frame that is not a relay frame; ``str(exc)`` is user-safe. ``code``:
    ``FRAME_TOO_LARGE`` for a payload over the limit, else ``INVALID_FRAME``."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.INVALID_FRAME) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class RelayFrame:
    """A decoded binary frame: ``stream_id`` canonical UUID string, ``timestamp_ms`` unix ms,
    ``jpeg`` the payload (a ``memoryview`` into the received message: no copy)."""

    stream_id: str
    timestamp_ms: int
    jpeg: memoryview
    version: int = VERSION
    codec: int = CODEC_JPEG


def looks_like_jpeg(data: bytes | bytearray | memoryview) -> bool:
    """True when ``data`` starts with the JPEG SOI marker (FF D8) and ends with EOI (FF D9).

    A cheap plausibility check, not a decode."""
    n = len(data)
    return (
        n >= 4
        and data[0] == 0xFF
        and data[1] == 0xD8
        and data[n - 2] == 0xFF
        and data[n - 1] == 0xD9
    )


def encode_header(stream_id: str, timestamp_ms: int) -> bytes:
    """The 28-byte header for ``stream_id`` (a UUID string) at ``timestamp_ms`` (unix ms).

    Raises :class:`FrameError` for an id that is not a UUID or a timestamp outside uint64."""
    try:
        raw_id = uuid.UUID(stream_id).bytes
    except (ValueError, AttributeError, TypeError):
        raise FrameError("The stream id must be a UUID.") from None
    if not 0 <= timestamp_ms <= _MAX_TS:
        raise FrameError("The timestamp must be unix milliseconds (0 to 2^64-1).")
    return HEADER.pack(VERSION, CODEC_JPEG, 0, raw_id, timestamp_ms)


def encode_frame(stream_id: str, timestamp_ms: int, jpeg: bytes | bytearray | memoryview) -> bytes:
    """Header + ``jpeg``: one binary relay message (see the module doc for the layout)."""
    return encode_header(stream_id, timestamp_ms) + bytes(jpeg)


def decode_frame(
    data: bytes | bytearray | memoryview, *, max_payload: int | None = None
) -> RelayFrame:
    """Read one binary relay message.

    Raises :class:`FrameError` (a ``ValueError``; the message is user-safe) when it is
    shorter than the header, has an unknown version, codec or non-zero flags, carries an
    empty payload, a payload over ``max_payload`` bytes (when given), or a payload that is
    not a JPEG (:func:`looks_like_jpeg`)."""
    view = memoryview(data)
    if len(view) < HEADER_SIZE:
        raise FrameError(f"A binary frame needs a {HEADER_SIZE}-byte header.")
    version, codec, flags, raw_id, timestamp_ms = HEADER.unpack_from(view)
    if version != VERSION:
        raise FrameError(f"Unsupported frame version {version} (expected {VERSION}).")
    if codec != CODEC_JPEG:
        raise FrameError(f"Unsupported codec {codec} (expected {CODEC_JPEG}, JPEG).")
    if flags != 0:
        raise FrameError("Frame flags must be 0.")
    payload = view[HEADER_SIZE:]
    if not payload:
        raise FrameError("The frame carries no image.")
    if max_payload is not None and len(payload) > max_payload:
        raise FrameError(
            f"The frame is larger than {max_payload} bytes.", ErrorCode.FRAME_TOO_LARGE
        )
    if not looks_like_jpeg(payload):
        raise FrameError("The frame is not a JPEG image.")
    return RelayFrame(str(uuid.UUID(bytes=raw_id)), timestamp_ms, payload)
