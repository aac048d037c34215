"""The relay's close codes and how its server messages become packets."""

from __future__ import annotations

from pydantic import BaseModel

from beholder.contracts import relay as msgs
from beholder.contracts.wire import new_id
from beholder.errors import ErrorCode
from beholder.realtime.relay.queue import Packet

CLOSE_STREAM_DELETED = 4404
"""The stream was deleted (after a ``stream-deleted`` message)."""
CLOSE_PRODUCER_REPLACED = 4409
"""Another producer registered the stream (after a ``producer-replaced`` message)."""


def packet(message: BaseModel) -> Packet:
    """A relay server message (:data:`beholder.contracts.relay.RelayServerMessage`) framed
    once as a control packet (never dropped)."""
    return Packet.text(msgs.wire_bytes(message))


def error(code: ErrorCode, message: str, stream_id: str | None = None) -> msgs.RelayError:
    """An ``error`` message (the one error shape) with a new correlation id; ``message``
    must be user-safe."""
    return msgs.error(code, message, new_id(), stream_id=stream_id)


__all__ = ["CLOSE_PRODUCER_REPLACED", "CLOSE_STREAM_DELETED", "error", "packet"]
