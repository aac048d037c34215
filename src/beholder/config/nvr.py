"""The NVR fleet's section, ``BEHOLDER_NVR_<NAME>`` (issue 11: agents, cascade, alerts)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from beholder.config.file_values import SecretSettings


class NvrSettings(SecretSettings):
    """NVR agents and the offline cascade, ``BEHOLDER_NVR_<NAME>``. Durations in s.

    An NVR whose agent is silent for ``missed_heartbeats`` × ``heartbeat_seconds`` goes
    offline (a closed socket makes it offline at once). System alerts: an NVR going
    offline is ``high``, ``critical`` when it takes ``critical_cameras`` cameras or more
    with it; its return (and a camera's) is ``low`` after an outage shorter than
    ``medium_after`` s, ``medium`` up to ``high_after`` s, ``high`` beyond; a camera found
    unreachable while its NVR is up is ``medium``. One alert per subject and event within
    ``alert_dedupe_seconds`` (a flapping link does not flood)."""

    model_config = SettingsConfigDict(
        env_prefix="BEHOLDER_NVR_",
        env_file=None,
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    heartbeat_seconds: float = Field(
        default=10.0, gt=0, le=3600, description="how often agents send a heartbeat (s)"
    )
    missed_heartbeats: int = Field(
        default=3, ge=1, le=100, description="heartbeats missed before an NVR is offline"
    )
    auth_timeout: float = Field(
        default=10.0, gt=0, le=300, description="s a new agent socket has to authenticate"
    )
    ping_interval: float = Field(
        default=20.0, gt=0, le=3600, description="s between the server's pings to an agent"
    )
    alert_dedupe_seconds: float = Field(
        default=300.0,
        ge=0,
        le=7 * 86400,
        description="one system alert per NVR/camera and event within this window (s)",
    )
    critical_cameras: int = Field(
        default=16, ge=1, description="an NVR offline with this many cameras is critical"
    )
    medium_after: float = Field(
        default=60.0, ge=0, description="an outage at least this long returns as medium (s)"
    )
    high_after: float = Field(
        default=900.0, ge=0, description="an outage at least this long returns as high (s)"
    )
    stats_debounce: float = Field(
        default=0.5, gt=0, le=60, description="the fleet summary is pushed at most this often"
    )
    camera_alerts: bool = Field(
        default=True, description="alert when a camera becomes unreachable while its NVR is up"
    )

    @property
    def silence_seconds(self) -> float:
        """How long an agent may stay silent before its NVR goes offline (s)."""
        return self.heartbeat_seconds * self.missed_heartbeats

    @model_validator(mode="after")
    def _ordered(self) -> NvrSettings:
        if self.high_after < self.medium_after:
            raise ValueError("BEHOLDER_NVR_HIGH_AFTER must not be below BEHOLDER_NVR_MEDIUM_AFTER")
        return self
