"""Every settings object the tests build, in one place: the app's :class:`Settings` and the
worker's and live view's sub-settings, each with the short timeouts and generous limits a test
needs. A change to how settings are constructed is one edit here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from beholder.config import CameraSettings, LiveViewSettings, Settings, WorkerSettings
from fixtures.rtsp_server import free_port

__all__ = [
    "ADMIN_PASSWORD",
    "TEST_CAMERA_NETWORKS",
    "free_port",
    "make_camera_settings",
    "make_egress_settings",
    "make_settings",
    "make_worker_settings",
]

ADMIN_PASSWORD = "admin-password-1"
"""The first-run admin password of every test app (user ``admin``)."""

TEST_CAMERA_NETWORKS = "private,public,127.0.0.0/8,::1/128"
"""``BEHOLDER_CAMERA_NETWORKS`` of the tests: the default plus loopback, where the RTSP
fixture serves (tests/integration/test_camera_networks.py proves the default refuses it).
Set it in the environment of every process a test spawns that connects to a camera."""


def make_camera_settings(networks: str = TEST_CAMERA_NETWORKS) -> CameraSettings:
    """Camera settings that allow ``networks`` (default: :data:`TEST_CAMERA_NETWORKS`)."""
    return CameraSettings(networks=networks)


def make_settings(tmp_path: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    """Test settings: temp data dir, known admin password, generous rate limits, a free port.

    ``database_url``: ``None`` for the embedded SQLite in ``tmp_path/data``; ``overrides``
    are :class:`Settings` fields."""
    base: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "admin_password": ADMIN_PASSWORD,
        "run_worker": False,
        "health_interval": 0.5,
        "worker": WorkerSettings(heartbeat_interval=0.5),
        "camera": make_camera_settings(),
        "rate_limit_per_ip": "100000/minute",
        "rate_limit_per_principal": "100000/minute",
        "rate_limit_login": "1000/minute",
        "rate_limit_refresh": "1000/minute",
        "log_format": "json",
        "port": free_port(),
    }
    base.update(overrides)
    return Settings(**base)


def make_worker_settings(**overrides: Any) -> WorkerSettings:
    """Camera-session settings with test timeouts (seconds): stats every 1 s, a stall after
    2.5 s, open within 4 s, backoff 0.3..1.5 s, stop within 2 s, heartbeats every 0.5 s;
    ``overrides`` win."""
    base: dict[str, Any] = {
        "stats_interval": 1.0,
        "stall_timeout": 2.5,
        "open_timeout": 4.0,
        "backoff_initial": 0.3,
        "backoff_max": 1.5,
        "stop_timeout": 2.0,
        "heartbeat_interval": 0.5,
    }
    base.update(overrides)
    return WorkerSettings(**base)


def make_egress_settings(**overrides: Any) -> LiveViewSettings:
    """Live-view settings for tests: loopback ICE only, a 5 s restart grace; ``overrides``
    are fields of :class:`LiveViewSettings`."""
    base: dict[str, Any] = {"webrtc_hosts": ("127.0.0.1",), "webrtc_restart_grace": 5.0}
    base.update(overrides)
    return LiveViewSettings(**base)
