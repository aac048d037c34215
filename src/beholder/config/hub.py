"""The dashboard hub's section, ``BEHOLDER_WS_*`` and ``BEHOLDER_ALERT_REPLAY_LIMIT``."""

from __future__ import annotations

from pydantic import (
    Field,
)
from pydantic_settings import SettingsConfigDict

from beholder.config.file_values import SecretSettings
from beholder.config.types import RateLimit


class HubSettings(SecretSettings):
    """The dashboard hub ``/ws``, ``BEHOLDER_<NAME>`` with the full field name."""

    model_config = SettingsConfigDict(
        env_prefix="BEHOLDER_", env_file=None, extra="forbid", validate_default=True, frozen=True
    )

    ws_ping_interval: float = Field(default=20.0, gt=0)
    ws_missed_pongs: int = Field(default=2, ge=1)
    ws_auth_timeout: float = Field(default=10.0, gt=0)
    ws_send_queue: int = Field(
        default=256, ge=1, le=65536, description="live messages queued per connection"
    )
    ws_backlog_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=64 * 1024,
        le=256 * 1024 * 1024,
        description="bytes of frames a connection may have waiting to be sent (replies and "
        "replayed alerts included, the socket's own write buffer too); over it the "
        "connection is closed with 1013. The default holds a full alert replay (500 alerts "
        "with their few-KB thumbnails) for a client that has not read any of it yet",
    )
    ws_replay_rate: RateLimit = Field(
        default="6/minute",
        description="alert replays a connection may ask for (limits notation, moving "
        "window, e.g. 6/minute); more get an error message RATE_LIMIT_EXCEEDED, no replay",
    )
    ws_unauthenticated_per_client: int = Field(
        default=8,
        ge=1,
        le=10000,
        description="connections one client address may hold before authenticating; more "
        "are refused with HTTP 429 before the upgrade",
    )
    ws_max_message_bytes: int = Field(default=65536, ge=256)
    alert_replay_limit: int = Field(
        default=500, ge=1, description="alerts sent at most to a client that reconnects"
    )
