"""The audit trail's section, ``BEHOLDER_AUDIT_<NAME>`` (issue 14 item 7)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from beholder.config.file_values import SecretSettings


class AuditSettings(SecretSettings):
    """Retention of the audit trail, ``BEHOLDER_AUDIT_<NAME>``.

    Events older than ``retention_days`` are deleted by a purge that runs on start-up and
    then every ``purge_interval`` seconds on each api instance (the purge is idempotent, so
    several instances do no harm)."""

    model_config = SettingsConfigDict(
        env_prefix="BEHOLDER_AUDIT_",
        env_file=None,
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    retention_days: float = Field(
        default=365.0, gt=0, le=36500, description="days an audit event is kept"
    )
    purge_interval: float = Field(
        default=3600.0, gt=0, le=7 * 86400, description="s between retention purges"
    )
