"""The live-view section (WHEP, egress, transcode, MJPEG), read on both sides of the bus."""

from __future__ import annotations

from pydantic import (
    Field,
    SecretStr,
)
from pydantic_settings import SettingsConfigDict

from beholder.config.file_values import SecretSettings
from beholder.config.types import StrTuple


class LiveViewSettings(SecretSettings):
    """Live view (WHEP/WebRTC and MJPEG egress), ``BEHOLDER_<NAME>`` with the full field name.

    Read by the worker's egress and by the api's live-view routes. Durations are seconds,
    sizes bytes or pixels, rates frames/s.
    """

    model_config = SettingsConfigDict(
        env_prefix="BEHOLDER_", env_file=None, extra="forbid", validate_default=True, frozen=True
    )

    # ICE
    webrtc_hosts: StrTuple = Field(
        default=(),
        description="addresses offered as ICE host candidates; () = every interface except "
        "loopback (aioice's own choice); tests set 127.0.0.1",
    )
    webrtc_peer_networks: StrTuple = Field(
        default=(),
        description="CIDRs a remote candidate must fall in; () = the networks of the host "
        "addresses in use (everything when STUN/TURN servers are configured)",
    )
    webrtc_ice_servers: StrTuple = Field(
        default=(), description="stun:host:port / turn:host:port?transport=udp URLs; none"
    )
    webrtc_turn_username: str | None = None
    webrtc_turn_password: SecretStr | None = None

    # limits and lifecycle
    webrtc_max_viewers_per_camera: int = Field(default=16, ge=1)
    webrtc_max_viewers: int = Field(default=64, ge=1)
    webrtc_max_sessions_per_principal: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="WHEP sessions one user or API key may hold at once (a new offer over it "
        "answers 429), counted over every worker in distributed mode; a session stops "
        "counting as soon as it is closed",
    )
    webrtc_signal_timeout: float = Field(
        default=10.0, gt=0, description="how long the api waits for the worker's WHEP answer"
    )
    webrtc_connect_timeout: float = Field(
        default=20.0, gt=0, description="close a session not connected after this long"
    )
    webrtc_idle_timeout: float = Field(
        default=15.0, gt=0, description="close a session with no RTCP receiver report this long"
    )
    webrtc_restart_grace: float = Field(
        default=3.0,
        ge=0,
        description="viewers wait this long for a new session of their camera (a RESTART) "
        "before they are closed (a STOP)",
    )

    # fan-out
    egress_gop_cache_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=0,
        description="bound of the per-camera GOP cache; a longer GOP disables it until the "
        "next keyframe",
    )
    egress_viewer_queue: int = Field(
        default=90, ge=1, description="frames queued per viewer before it skips to a keyframe"
    )

    # transcode (sources a browser cannot take as-is)
    transcode_max_width: int = Field(default=1280, ge=16)
    transcode_max_height: int = Field(default=720, ge=16)
    transcode_max_fps: float = Field(default=15.0, gt=0)
    transcode_bitrate: int = Field(default=1_500_000, ge=10_000)
    transcode_gop_seconds: float = Field(default=1.0, gt=0)

    # MJPEG fallback
    mjpeg_max_fps: float = Field(default=5.0, gt=0)
    mjpeg_max_width: int = Field(default=640, ge=16)
    mjpeg_quality: int = Field(default=7, ge=1, le=31, description="FFmpeg qscale, lower=better")
    mjpeg_keepalive: float = Field(
        default=2.0, gt=0, description="how often the api renews its interest in a stream"
    )
    mjpeg_idle_timeout: float = Field(
        default=6.0, gt=0, description="the worker stops encoding after this long unrenewed"
    )
    mjpeg_client_queue: int = Field(default=2, ge=1)
