"""Graceful degradation, ``BEHOLDER_DEGRADATION_<NAME>`` (issue 14 item 8): how many alerts
the api keeps in memory while the database is unreachable, and how often it retries."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from beholder.config.file_values import SecretSettings


class DegradationSettings(SecretSettings):
    """Alert buffering while the database is down (:mod:`beholder.api.alert_queue`).

    ``alert_queue_max``/``alert_queue_max_bytes``: bounds of the in-memory queue of alerts
    not yet written (count; bytes of their stored fields, thumbnails included). When either
    is reached the **oldest** queued alert is dropped (logged with its id and counted in
    ``beholder_alert_queue_dropped_total``): every queued alert was already pushed live to
    the dashboards, and the newest ones are those an operator still has to act on.
    ``retry_initial``/``retry_max`` (seconds): the write-back retries with exponential
    backoff (and jitter) between these; ``flush_on_stop`` (seconds): how long shutdown
    keeps trying to write what is still queued."""

    model_config = SettingsConfigDict(
        env_prefix="BEHOLDER_DEGRADATION_",
        env_file=None,
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    alert_queue_max: int = Field(
        default=10_000, ge=1, le=1_000_000, description="alerts kept while the DB is down"
    )
    alert_queue_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=64 * 1024,
        le=4 * 1024 * 1024 * 1024,
        description="bytes of queued alerts kept while the DB is down",
    )
    retry_initial: float = Field(
        default=0.5, gt=0, le=60, description="first write-back retry delay (s)"
    )
    retry_max: float = Field(default=10.0, gt=0, le=600, description="longest retry delay (s)")
    flush_on_stop: float = Field(
        default=5.0, ge=0, le=120, description="shutdown's last write-back attempt (s)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> DegradationSettings:
        if self.retry_max < self.retry_initial:
            raise ValueError("BEHOLDER_DEGRADATION_RETRY_MAX must be >= RETRY_INITIAL")
        return self
