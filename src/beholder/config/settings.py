"""The root of the settings tree: process-wide values and the sections it composes."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    SecretStr,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from beholder.config.audit import AuditSettings
from beholder.config.bus import BusSettings
from beholder.config.camera import CameraSettings
from beholder.config.cluster import ClusterSettings
from beholder.config.degradation import DegradationSettings
from beholder.config.file_values import SecretSettings
from beholder.config.hub import HubSettings
from beholder.config.live_view import LiveViewSettings
from beholder.config.nvr import NvrSettings
from beholder.config.relay import RelaySettings
from beholder.config.tls import TlsSettings
from beholder.config.types import RateLimit, StrList
from beholder.config.worker import WorkerSettings
from beholder.password_policy import check_password, check_secret_key


class Settings(SecretSettings):
    """All tunables of Beholder. Durations are seconds unless the name says otherwise."""

    model_config = SettingsConfigDict(
        env_prefix="BEHOLDER_", env_file=None, extra="forbid", validate_default=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    data_dir: Path = Path("./data")
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite:///<data_dir>/beholder.db",
    )
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout: float = Field(default=5.0, gt=0)
    admin_password: SecretStr | None = Field(
        default=None,
        description="first admin's password (password policy: 12+ characters, not common)",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="JWT signing secret, 32+ bytes; generated into the data dir if unset",
    )

    # auth
    access_token_ttl: int = Field(default=900, ge=30)
    refresh_token_ttl: int = Field(default=7 * 24 * 3600, ge=60)
    auth_recheck_interval: float = Field(
        default=30.0,
        ge=0.1,
        le=300.0,
        description="re-check the principal of every open socket, MJPEG stream and WHEP "
        "session this often (s): catches a disable or revoke made without the bus (the CLI)",
    )

    # edges
    cors_origins: StrList = Field(default_factory=list)
    trusted_proxies: StrList = Field(
        default_factory=list,
        description="addresses or networks (CIDR) of the reverse proxies in front of the api "
        "(nginx, an Ingress controller): X-Forwarded-For and X-Forwarded-Proto are believed "
        "from them only, so per-address rate limits, the login back-off and the audit trail "
        "see the client's address instead of the proxy's; empty: the headers are ignored",
    )
    rate_limit_per_ip: RateLimit = "600/minute"
    rate_limit_per_principal: RateLimit = "1200/minute"
    rate_limit_login: RateLimit = Field(
        default="10/minute", description="login attempts per client address"
    )
    rate_limit_refresh: RateLimit = Field(
        default="30/minute",
        description="token refreshes per client address, and per token subject (user)",
    )
    rate_limit_storage_url: SecretStr = Field(
        default=SecretStr("memory://"),
        description="where the rate limits and the login back-off are counted: "
        "``memory://`` (per api instance) or ``redis://host:port/db`` (``rediss://`` for TLS), "
        "shared by every api instance so that a limit holds cluster-wide; the api refuses to "
        "start when that Redis is unreachable, and counts per instance while it is lost",
    )
    rate_limit_key_prefix: str = Field(
        default="beholder",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="prefix of the rate-limit keys in the shared storage (one per "
        "deployment sharing a Redis)",
    )
    login_failures_allowed: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="wrong passwords per (address, username) before the back-off starts",
    )
    login_backoff_initial: float = Field(
        default=1.0, gt=0, le=3600, description="first back-off after the allowed failures, s"
    )
    login_backoff_max: float = Field(
        default=900.0, gt=0, le=86400, description="the back-off doubles per failure up to this, s"
    )
    login_failure_window: float = Field(
        default=3600.0,
        gt=0,
        le=7 * 86400,
        description="failures are forgotten this long after the first one (or on success), s",
    )
    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    metrics_token: SecretStr | None = Field(
        default=None, description="bearer token accepted on /metrics in addition to admin auth"
    )
    metrics_allow: StrList = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"],
        description="client networks allowed to read /metrics without credentials",
    )

    # health and alert snapshots
    health_interval: float = Field(default=10.0, gt=0)
    snapshot_retention_count: int = Field(default=5000, ge=1)
    snapshot_retention_days: float = Field(default=30.0, gt=0)

    # roles run by `serve`
    run_worker: bool = True
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    # parts of the code, each given its own sub-model (each reads its own variables)
    worker: WorkerSettings = Field(default_factory=lambda: WorkerSettings())
    live_view: LiveViewSettings = Field(default_factory=lambda: LiveViewSettings())
    hub: HubSettings = Field(default_factory=lambda: HubSettings())
    camera: CameraSettings = Field(default_factory=lambda: CameraSettings())
    bus: BusSettings = Field(default_factory=lambda: BusSettings())
    relay: RelaySettings = Field(default_factory=lambda: RelaySettings())
    nvr: NvrSettings = Field(default_factory=lambda: NvrSettings())
    tls: TlsSettings = Field(default_factory=lambda: TlsSettings())
    audit: AuditSettings = Field(default_factory=lambda: AuditSettings())
    degradation: DegradationSettings = Field(default_factory=lambda: DegradationSettings())
    cluster: ClusterSettings = Field(default_factory=lambda: ClusterSettings())

    @field_validator("admin_password")
    @classmethod
    def _admin_password_policy(cls, password: SecretStr | None) -> SecretStr | None:
        if password is not None:
            check_password(password.get_secret_value())
        return password

    @field_validator("secret_key")
    @classmethod
    def _secret_key_length(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None:
            check_secret_key(secret.get_secret_value())
        return secret

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, proxies: list[str]) -> list[str]:
        # A wildcard would let any client write its own address into X-Forwarded-For.
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(
                    f"BEHOLDER_TRUSTED_PROXIES takes IP addresses or networks, not {proxy!r}"
                ) from None
        return proxies

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
        if self.database_url and self.database_url.get_secret_value():
            return self.database_url.get_secret_value()
        return f"sqlite+aiosqlite:///{(self.data_dir / 'beholder.db').resolve()}"

    @property
    def snapshot_dir(self) -> Path:
        """Directory that holds alert snapshots (JPEG files named by alert id)."""
        return self.data_dir / "snapshots"

    @property
    def secret_file(self) -> Path:
        """Where the generated JWT signing secret lives (mode 600)."""
        return self.data_dir / "secret.key"


SECTIONS: tuple[type[BaseSettings], ...] = (
    Settings,
    WorkerSettings,
    LiveViewSettings,
    HubSettings,
    CameraSettings,
    BusSettings,
    RelaySettings,
    NvrSettings,
    TlsSettings,
    AuditSettings,
    DegradationSettings,
    ClusterSettings,
)
"""Every model of the tree; each field that is not itself a section is one variable."""
