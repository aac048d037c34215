"""The mobile relay's section, ``BEHOLDER_RELAY_<NAME>`` (issue 10: ``/api/streams/ws``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from beholder.config.file_values import SecretSettings

_MIB = 1024 * 1024
_JSON_ENVELOPE = 64 * 1024
"""Bytes allowed around a base64 frame in a JSON ``video-frame`` message."""


class RelaySettings(SecretSettings):
    """The mobile relay ``/api/streams/ws``, ``BEHOLDER_RELAY_<NAME>``.

    Durations in s, sizes in bytes; limits are per api instance."""

    model_config = SettingsConfigDict(
        env_prefix="BEHOLDER_RELAY_",
        env_file=None,
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    auth_timeout: float = Field(
        default=10.0, gt=0, le=300, description="s a new socket has to send its auth message"
    )
    ping_interval: float = Field(default=30.0, gt=0, le=3600, description="s between pings")
    missed_pongs: int = Field(
        default=2, ge=1, le=100, description="pings left unanswered before the socket is closed"
    )
    max_frame_bytes: int = Field(
        default=2 * _MIB,
        ge=16 * 1024,
        le=64 * _MIB,
        description="largest JPEG a producer may send (decoded bytes, binary or base64)",
    )
    consumer_queue_bytes: int = Field(
        default=4 * _MIB,
        ge=64 * 1024,
        le=1024 * _MIB,
        description="bytes queued per consumer; over it the oldest video frames are dropped",
    )
    max_metadata_bytes: int = Field(
        default=4096,
        ge=256,
        le=4096,
        description="largest stream or alert metadata, compact JSON (the contract allows "
        "at most 4096; a lower value tightens it)",
    )
    max_streams_per_principal: int = Field(
        default=50, ge=1, le=100000, description="streams one user or key may register"
    )
    alerts_per_minute: int = Field(
        default=600, ge=1, le=1_000_000, description="alerts one connection may send per minute"
    )
    max_connections_per_principal: int = Field(
        default=64, ge=1, le=100000, description="relay sockets one user or key may hold open"
    )
    detect_fps: float = Field(
        default=2.0, gt=0, le=60, description="frames/s the built-in detector samples a stream at"
    )

    @property
    def max_message_bytes(self) -> int:
        """Largest WebSocket message the relay must accept: a JSON ``video-frame`` carrying
        a ``max_frame_bytes`` JPEG in base64 (4/3 larger) plus its envelope."""
        return -(-self.max_frame_bytes // 3) * 4 + _JSON_ENVELOPE
