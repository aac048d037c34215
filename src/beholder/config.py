"""Settings for every role, read from the environment with the ``BEHOLDER_`` prefix.

Embedded defaults make ``beholder serve`` work on a fresh machine: SQLite in ``./data``,
the in-memory bus and one in-process worker. Distributed mode is the same code with
``BEHOLDER_DATABASE_URL`` (PostgreSQL) and ``BEHOLDER_BUS_URL`` (NATS) set.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    cors_origins: list[str] = Field(default_factory=list)
    rate_limit_per_ip: str = "600/minute"
    rate_limit_per_principal: str = "1200/minute"
    rate_limit_login: str = "10/minute"
    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    metrics_token: str | None = Field(
        default=None, description="bearer token accepted on /metrics in addition to admin auth"
    )
    metrics_allow: list[str] = Field(
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

    # camera worker (RTSP ingest and detection); read by worker.session.WorkerSettings
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
        description="run detectors in child processes (yunet holds the GIL while it runs)",
    )
    worker_snapshot_cache: float = Field(default=1.0, ge=0)
    worker_probesize: int = Field(default=262144, ge=32)
    worker_analyzeduration: float = Field(default=1.0, gt=0)
    worker_max_decode_errors: int = Field(default=50, ge=1)

    # roles run by `serve`
    run_worker: bool = True
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

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
