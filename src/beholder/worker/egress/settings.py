"""Tunables of live view (WHEP/WebRTC and MJPEG egress), with defaults.

:class:`EgressSettings` is read from the application :class:`~beholder.config.Settings` when
it carries the field (same name), else from the environment (``BEHOLDER_<NAME>``), else the
default below. Lists are given in the environment as JSON (``["127.0.0.1"]``) or comma-separated
(``127.0.0.1,10.0.0.5``). Durations are seconds, sizes bytes or pixels, rates frames/s.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class EgressSettings:
    """Live-view settings. See the module docstring for where the values come from."""

    # ICE
    webrtc_hosts: tuple[str, ...] = ()
    """Addresses offered as ICE host candidates; empty = every interface except loopback
    (aioice's own choice). Tests set ``127.0.0.1``."""
    webrtc_peer_networks: tuple[str, ...] = ()
    """CIDRs a remote candidate must fall in to be used; empty = automatic (the networks of
    the host addresses in use; everything when STUN/TURN servers are configured)."""
    webrtc_ice_servers: tuple[str, ...] = ()
    """``stun:host:port`` / ``turn:host:port?transport=udp`` URLs; none by default."""
    webrtc_turn_username: str | None = None
    webrtc_turn_password: str | None = None

    # limits and lifecycle
    webrtc_max_viewers_per_camera: int = 16
    webrtc_max_viewers: int = 64
    webrtc_signal_timeout: float = 10.0
    """How long the api waits for the worker's WHEP answer (bus request timeout)."""
    webrtc_connect_timeout: float = 20.0
    """A session whose peer connection is not connected after this long is closed."""
    webrtc_idle_timeout: float = 15.0
    """A connected session from which no RTCP receiver report arrived for this long is closed."""
    webrtc_restart_grace: float = 3.0
    """After a camera session ends, viewers are kept this long waiting for a new session of
    the same camera (a RESTART); then they are closed (a STOP)."""

    # fan-out
    egress_gop_cache_bytes: int = 8 * 1024 * 1024
    """Upper bound of the per-camera GOP cache; a longer GOP disables the cache until the
    next keyframe."""
    egress_viewer_queue: int = 90
    """Frames queued per viewer before it is declared slow (then it skips to a keyframe)."""

    # transcode (sources a browser cannot take as-is)
    transcode_max_width: int = 1280
    transcode_max_height: int = 720
    transcode_max_fps: float = 15.0
    transcode_bitrate: int = 1_500_000
    transcode_gop_seconds: float = 1.0

    # MJPEG fallback
    mjpeg_max_fps: float = 5.0
    mjpeg_max_width: int = 640
    mjpeg_quality: int = 7
    """FFmpeg ``qscale`` for the MJPEG encoder: 2 (best) … 31 (worst)."""
    mjpeg_keepalive: float = 2.0
    """How often the api renews its interest in a camera's MJPEG stream."""
    mjpeg_idle_timeout: float = 6.0
    """The worker stops encoding MJPEG when no keep-alive arrived for this long."""
    mjpeg_client_queue: int = 2

    @classmethod
    def from_sources(cls, settings: object | None = None, **overrides: Any) -> EgressSettings:
        """Build from ``settings`` attributes, then ``BEHOLDER_*`` env vars, then defaults.

        Raises ``ValueError`` when an environment value cannot be parsed."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in overrides:
                values[f.name] = overrides[f.name]
                continue
            raw: Any = getattr(settings, f.name, None) if settings is not None else None
            if raw is None:
                env = os.environ.get(f"BEHOLDER_{f.name.upper()}")
                if env is None:
                    continue
                raw = env
            values[f.name] = _coerce(raw, f)
        return cls(**values)


def _coerce(raw: Any, f: dataclasses.Field[Any]) -> Any:
    kind = str(f.type)
    if kind.startswith("tuple"):
        if isinstance(raw, str):
            text = raw.strip()
            items = json.loads(text) if text.startswith("[") else text.split(",")
        else:
            items = list(raw)
        return tuple(str(i).strip() for i in items if str(i).strip())
    if not isinstance(raw, str):
        return raw
    if kind.startswith("int"):
        return int(raw)
    if kind.startswith("float"):
        return float(raw)
    return raw
