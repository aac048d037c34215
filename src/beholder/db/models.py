"""SQLAlchemy 2 ORM models (DESIGN §3). The api is the only writer.

IDs are UUID strings; timestamps are stored as timezone-aware UTC (``UtcDateTime``) on both
SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from beholder.messages import new_id, utcnow


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops tzinfo by itself)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RefreshToken(Base):
    """Issued refresh tokens, so that logout and disabling a user revoke them."""

    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the JWT's jti
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    owner_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    scope: Mapped[str] = mapped_column(String(16))
    nvr_id: Mapped[str | None] = mapped_column(
        ForeignKey("nvrs.id", ondelete="CASCADE"), default=None, index=True
    )
    """The NVR an ``nvr`` key is bound to (it acts only as that NVR)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Nvr(Base):
    __tablename__ = "nvrs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    hostname: Mapped[str] = mapped_column(String(255), unique=True)
    device_name: Mapped[str | None] = mapped_column(String(255), default=None)
    region: Mapped[str | None] = mapped_column(String(64), default=None)
    site: Mapped[str | None] = mapped_column(String(128), default=None)
    model: Mapped[str | None] = mapped_column(String(64), default=None)
    firmware: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), default="offline")
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Camera(Base):
    __tablename__ = "cameras"
    __table_args__ = (UniqueConstraint("nvr_id", "nvr_channel", name="uq_cameras_nvr_channel"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    rtsp_url: Mapped[str] = mapped_column(Text)  # holds credentials: never returned unmasked
    location: Mapped[str | None] = mapped_column(String(128), default=None)
    nvr_id: Mapped[str | None] = mapped_column(
        ForeignKey("nvrs.id", ondelete="SET NULL"), default=None, index=True
    )
    nvr_channel: Mapped[int | None] = mapped_column(Integer, default=None)
    reachability: Mapped[str] = mapped_column(
        String(16), default="unknown", server_default="unknown"
    )
    """``online|offline|unknown``: what the NVR agent's probes / the cascade say."""
    reachability_detail: Mapped[str | None] = mapped_column(Text, default=None)
    probe: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    face_detection_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="OFFLINE")
    status_detail: Mapped[str | None] = mapped_column(Text, default=None)
    error_code: Mapped[str | None] = mapped_column(String(32), default=None)
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    worker_id: Mapped[str | None] = mapped_column(String(128), default=None)
    """The worker that reported the current status (``None``: nobody holds the camera)."""
    lease_epoch: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """Lease epoch of the status stored last (distributed mode; fencing, migration 0005)."""
    status_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """Per-camera sequence (within ``lease_epoch``) of the status stored last."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VideoStream(Base):
    __tablename__ = "video_streams"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, default=None
    )
    owner_key_id: Mapped[str | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), default=None
    )
    device_name: Mapped[str] = mapped_column(String(128))
    device_type: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), default="offline")
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    stream_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, default=None)
    face_detection_enabled: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_created_id", "created_at", "id"),
        Index("ix_alerts_camera_created", "camera_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    camera_id: Mapped[str | None] = mapped_column(
        ForeignKey("cameras.id", ondelete="CASCADE"), default=None
    )
    stream_id: Mapped[str | None] = mapped_column(
        ForeignKey("video_streams.id", ondelete="CASCADE"), default=None, index=True
    )
    nvr_id: Mapped[str | None] = mapped_column(
        ForeignKey("nvrs.id", ondelete="CASCADE"), default=None, index=True
    )
    """The NVR of a system alert about an NVR (issue 11)."""
    type: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    alert_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, default=None)
    thumbnail: Mapped[str | None] = mapped_column(Text, default=None)
    snapshot_path: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    source: Mapped[str | None] = mapped_column(String(96), default=None)
    """Who raised it: ``api_key:<id>``, ``user:<id>`` or ``worker:<id>`` (stream alerts)."""


class AuditEvent(Base):
    """One security-relevant action (issue 14 item 7). Append-only: the repository
    (:mod:`beholder.db.repositories.audit`) has no update or delete but the retention purge,
    and on PostgreSQL a trigger refuses UPDATE/DELETE/TRUNCATE outside that purge (migration
    0004). No foreign keys: a row outlives the user, key or camera it names."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_occurred_id", "occurred_at", "id"),
        Index("ix_audit_events_action_occurred", "action", "occurred_at"),
        Index("ix_audit_events_target", "target_type", "target_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    actor_name: Mapped[str | None] = mapped_column(String(128), default=None)
    principal_type: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(48))
    target_type: Mapped[str | None] = mapped_column(String(16), default=None)
    target_id: Mapped[str | None] = mapped_column(String(64), default=None)
    client_address: Mapped[str | None] = mapped_column(String(64), default=None)
    correlation_id: Mapped[str | None] = mapped_column(String(128), default=None)
    outcome: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
