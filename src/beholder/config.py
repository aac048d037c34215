"""Settings for every role, read from the environment with the ``BEHOLDER_`` prefix.

Embedded defaults make ``beholder serve`` work on a fresh machine: SQLite in ``./data``,
the in-memory bus and one in-process worker. Distributed mode is the same code with
``BEHOLDER_DATABASE_URL`` (PostgreSQL) and ``BEHOLDER_BUS_URL`` (NATS) set.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

StrList = Annotated[list[str], NoDecode]
"""A list setting given in the environment as JSON (``["a","b"]``) or comma-separated."""


class Settings(BaseSettings):
    """All tunables of Beholder. Durations are seconds unless the name says otherwise."""

    model_config = SettingsConfigDict(
        env_prefix="BEHOLDER_", env_file=None, extra="ignore", validate_default=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    data_dir: Path = Path("./data")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite:///<data_dir>/beholder.db",
    )
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout: float = Field(default=5.0, gt=0)
    bus_url: str = Field(default="memory://", description="memory:// or nats://host:4222")
    admin_password: str | None = None
    secret_key: str | None = Field(
        default=None, description="JWT signing secret; generated into the data dir if unset"
    )

    # auth
    access_token_ttl: int = Field(default=900, ge=30)
    refresh_token_ttl: int = Field(default=7 * 24 * 3600, ge=60)

    # edges
    cors_origins: StrList = Field(default_factory=list)
    rate_limit_per_ip: str = "600/minute"
    rate_limit_per_principal: str = "1200/minute"
    rate_limit_login: str = "10/minute"
    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    metrics_token: str | None = Field(
        default=None, description="bearer token accepted on /metrics in addition to admin auth"
    )
    metrics_allow: StrList = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"],
        description="client networks allowed to read /metrics without credentials",
    )

    # health and hub
    health_interval: float = Field(default=10.0, gt=0)
    worker_heartbeat_interval: float = Field(default=5.0, gt=0)
    ws_ping_interval: float = Field(default=20.0, gt=0)
    ws_missed_pongs: int = Field(default=2, ge=1)
    ws_auth_timeout: float = Field(default=10.0, gt=0)
    ws_send_queue: int = Field(default=256, ge=1)
    ws_max_message_bytes: int = Field(default=65536, ge=256)
    alert_replay_limit: int = Field(default=500, ge=1)
    snapshot_retention_count: int = Field(default=5000, ge=1)
    snapshot_retention_days: float = Field(default=30.0, gt=0)

    # camera worker (RTSP ingest and detection); read by worker.settings.WorkerSettings
    worker_sample_fps: float = Field(default=2.0, gt=0, description="detection samples/s")
    worker_stall_timeout: float = Field(default=10.0, gt=0, description="no packet for N s")
    worker_open_timeout: float = Field(default=10.0, gt=0)
    worker_backoff_initial: float = Field(default=1.0, gt=0)
    worker_backoff_max: float = Field(default=30.0, gt=0)
    worker_stats_interval: float = Field(default=5.0, gt=0)
    worker_stop_timeout: float = Field(default=2.0, gt=0)
    worker_detect_threads: int = Field(default=0, ge=0, description="0: one per CPU")
    worker_detector: Literal["yunet", "haar"] = "yunet"
    worker_detector_threshold: float | None = Field(default=None, ge=0, le=1)
    worker_alert_cooldown: float = Field(default=10.0, ge=0)
    worker_detect_max_side: int = Field(default=640, ge=64)
    worker_detect_isolation: Literal["process", "thread"] = Field(
        default="process",
        description="run detectors in child processes (a native fault or leak stays there)",
    )
    worker_detect_recycle_calls: int = Field(
        default=20000, ge=0, description="replace a detector process after N calls (0: never)"
    )
    worker_detect_recycle_rss_mb: int = Field(
        default=512, ge=0, description="replace a detector process above this RSS (0: never)"
    )
    worker_motion_gate: bool = Field(
        default=True, description="skip the detector on static scenes, look where things move"
    )
    worker_motion_threshold: int = Field(
        default=20, ge=1, le=254, description="grey levels a pixel must change to count"
    )
    worker_motion_min_area: float = Field(
        default=0.001, ge=0, lt=0.6, description="fraction of the picture that must change"
    )
    worker_motion_refresh: float = Field(
        default=30.0, ge=0, description="analyse a whole frame at least every N s (0: never)"
    )
    worker_probe_interval: float = Field(
        default=1.0, gt=0, le=30, description="while a camera is down, probe it every N s"
    )
    worker_probe_concurrency: int = Field(
        default=16, ge=1, description="probes in flight at once across cameras"
    )
    worker_snapshot_cache: float = Field(default=1.0, ge=0)
    worker_probesize: int = Field(default=262144, ge=32)
    worker_analyzeduration: float = Field(default=1.0, gt=0)
    worker_max_decode_errors: int = Field(default=50, ge=1)
    worker_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="standalone `beholder worker`: serve Prometheus /metrics on this port",
    )
    worker_metrics_host: str = Field(
        default="127.0.0.1", description="bind address of the worker's metrics endpoint"
    )

    # live view (WHEP / MJPEG egress); read by worker.egress.settings.EgressSettings
    webrtc_hosts: StrList = Field(
        default_factory=list,
        description="host addresses offered as ICE candidates; [] = the machine's interfaces",
    )
    webrtc_peer_networks: StrList = Field(
        default_factory=list,
        description="remote candidate networks accepted; [] = networks of the host addresses",
    )
    webrtc_ice_servers: StrList = Field(default_factory=list, description="stun:/turn: URLs")
    webrtc_turn_username: str | None = None
    webrtc_turn_password: str | None = None
    webrtc_max_viewers_per_camera: int = Field(default=16, ge=1)
    webrtc_max_viewers: int = Field(default=64, ge=1)
    webrtc_signal_timeout: float = Field(default=10.0, gt=0)
    webrtc_connect_timeout: float = Field(default=20.0, gt=0)
    webrtc_idle_timeout: float = Field(default=15.0, gt=0)
    webrtc_restart_grace: float = Field(default=3.0, ge=0)
    egress_gop_cache_bytes: int = Field(default=8 * 1024 * 1024, ge=0)
    egress_viewer_queue: int = Field(default=90, ge=1)
    transcode_max_width: int = Field(default=1280, ge=16)
    transcode_max_height: int = Field(default=720, ge=16)
    transcode_max_fps: float = Field(default=15.0, gt=0)
    transcode_bitrate: int = Field(default=1_500_000, ge=10_000)
    transcode_gop_seconds: float = Field(default=1.0, gt=0)
    mjpeg_max_fps: float = Field(default=5.0, gt=0)
    mjpeg_max_width: int = Field(default=640, ge=16)
    mjpeg_quality: int = Field(default=7, ge=1, le=31, description="FFmpeg qscale, lower=better")
    mjpeg_keepalive: float = Field(default=2.0, gt=0)
    mjpeg_idle_timeout: float = Field(default=6.0, gt=0)
    mjpeg_client_queue: int = Field(default=2, ge=1)

    # roles run by `serve`
    run_worker: bool = True
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    @field_validator(
        "cors_origins",
        "metrics_allow",
        "webrtc_hosts",
        "webrtc_peer_networks",
        "webrtc_ice_servers",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, origins: list[str]) -> list[str]:
        # Credentials are sent by the web app; a wildcard with credentials is unsafe.
        if "*" in origins:
            raise ValueError("BEHOLDER_CORS_ORIGINS must list origins; '*' is not allowed")
        return origins

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL in force (explicit setting or SQLite under the data dir)."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'beholder.db').resolve()}"

    @property
    def snapshot_dir(self) -> Path:
        """Directory that holds alert snapshots (JPEG files named by alert id)."""
        return self.data_dir / "snapshots"

    @property
    def secret_file(self) -> Path:
        """Where the generated JWT signing secret lives (mode 600)."""
        return self.data_dir / "secret.key"


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides winning (CLI flags)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]
