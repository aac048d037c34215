"""Request and response models of the REST API (camelCase JSON, DESIGN §6).

The views that hub messages carry too (cameras, alerts, health) are defined in
:mod:`beholder.contracts.resources` and re-exported here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from beholder.auth.roles import ApiKeyScope, Role
from beholder.contracts.resources import (
    AlertOut,
    AlertSeverity,
    AlertType,
    CameraOut,
    HealthOut,
    ServiceHealthOut,
    StreamMetadata,
    StreamOut,
    StreamStatus,
)
from beholder.messages import CameraStatus, UtcDatetime
from beholder.password_policy import MAX_LENGTH, MIN_LENGTH, check_password
from beholder.rtsp_url import validate_rtsp_url

T = TypeVar("T")


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; a naive one is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcInstant = Annotated[datetime, AfterValidator(as_utc)]
"""A datetime parameter normalised to aware UTC at the boundary (naive means UTC), so that
values with and without an offset compare (``?since=...+05:00&until=<naive>``)."""


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown request fields are refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ErrorDetail(ApiModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")
    code: str = Field(examples=["NOT_FOUND"])
    message: str = Field(description="Safe to show to a user")
    severity: Literal["INFO", "WARNING", "ERROR", "CRITICAL"]
    correlation_id: str


class ErrorResponse(ApiModel):
    """The one error shape of every failed request."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")
    error: ErrorDetail


class Page(ApiModel, Generic[T]):
    """Lists are always ``{"items": [...], "nextCursor"?}``."""

    items: list[T]
    next_cursor: str | None = None


# --- auth ---


class LoginRequest(ApiModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenResponse(ApiModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="access token lifetime in seconds")


class RefreshRequest(ApiModel):
    refresh_token: str = Field(min_length=1, max_length=4096)


class Me(ApiModel):
    id: str
    username: str
    role: Role
    kind: Literal["user", "api_key"] = "user"
    scope: ApiKeyScope | None = None


# --- users ---


def _check_username(v: str) -> str:
    v = v.strip()
    if not v or not all(c.isalnum() or c in "._-@" for c in v):
        raise ValueError("use letters, digits and . _ - @ only")
    return v


def _check_password(v: str | None) -> str | None:
    # The one policy (length and common-password list); a ValueError is INVALID_INPUT.
    return None if v is None else check_password(v)


class UserCreate(ApiModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)
    role: Role = Role.VIEWER

    _u = field_validator("username")(_check_username)
    _p = field_validator("password")(_check_password)


class UserUpdate(ApiModel):
    role: Role | None = None
    disabled: bool | None = None
    password: str | None = Field(default=None, min_length=MIN_LENGTH, max_length=MAX_LENGTH)

    _p = field_validator("password")(_check_password)


class UserOut(ApiModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)
    id: str
    username: str
    role: Role
    disabled: bool
    created_at: UtcDatetime


# --- api keys ---


class ApiKeyCreate(ApiModel):
    name: str = Field(min_length=1, max_length=128)
    scope: ApiKeyScope


class ApiKeyOut(ApiModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)
    id: str
    name: str
    prefix: str
    scope: ApiKeyScope
    owner_id: str | None
    nvr_id: str | None = Field(default=None, description="the NVR an `nvr` key is bound to")
    created_at: UtcDatetime
    last_used_at: UtcDatetime | None
    revoked_at: UtcDatetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The full key. Shown once; store it now.")


# --- cameras ---


class CameraCreate(ApiModel):
    name: str = Field(min_length=1, max_length=128)
    rtsp_url: str = Field(min_length=1, max_length=2048)
    location: str | None = Field(default=None, max_length=128)
    enabled: bool = True
    face_detection_enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("the camera needs a name")
        return v

    @field_validator("rtsp_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return validate_rtsp_url(v)


class CameraUpdate(ApiModel):
    name: str | None = Field(default=None, min_length=1, max_length=128)
    rtsp_url: str | None = Field(default=None, min_length=1, max_length=2048)
    location: str | None = Field(default=None, max_length=128)
    enabled: bool | None = None
    face_detection_enabled: bool | None = None

    @field_validator("rtsp_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else validate_rtsp_url(v)


class CommandAccepted(ApiModel):
    camera_id: str
    status: CameraStatus
    correlation_id: str


class FaceDetectionToggle(ApiModel):
    enabled: bool


# --- media ---


class MediaSignRequest(ApiModel):
    path: str = Field(
        max_length=256,
        description="A media path of this api: /api/cameras/{id}/snapshot.jpg, "
        "/api/cameras/{id}/mjpeg or /api/alerts/{id}/snapshot.jpg",
        examples=["/api/cameras/0b9e.../mjpeg"],
    )


class SignedMediaOut(ApiModel):
    url: str = Field(description="The path with ?exp=&sig=, for <img src> or a player")
    expires_at: UtcDatetime = Field(description="The URL is refused after this (≤ 60 s)")


# --- mobile streams (issue 10) ---


def _strip_name(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")
    return value


DeviceName = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_strip_name)]
DeviceType = Annotated[
    str,
    Field(min_length=1, max_length=64, examples=["ios", "android", "browser"]),
    AfterValidator(_strip_name),
]


class StreamRegister(ApiModel):
    """``POST /api/streams/register``: a phone (or a browser) announces its stream."""

    device_name: DeviceName
    device_type: DeviceType
    metadata: StreamMetadata | None = None


class StreamRegistered(ApiModel):
    """The registered stream: connect to ``/api/streams/ws`` and ``register`` ``streamId``."""

    stream_id: str
    message: str = "Stream registered successfully"
    stream: StreamOut


class StreamPatch(ApiModel):
    """``PATCH /api/streams/{id}``: rename, or switch the built-in face detector on/off."""

    device_name: DeviceName | None = None
    face_detection_enabled: bool | None = None


class ConsumerOut(ApiModel):
    """A consumer socket of a stream on the answering api instance: ``clientType``
    ``dashboard``/``ml-service``, ``principal`` ``kind:id``, what it ``consumes``, video
    frames sent and dropped (oldest first, slow consumer) since it subscribed, bytes queued."""

    connection_id: str
    client_type: str
    principal: str
    consumes: list[str]
    frames_sent: int
    frames_dropped: int
    queued_bytes: int


class StreamDetailOut(StreamOut):
    """A stream with its live consumers (``consumers``: this api instance's sockets)."""

    consumers: list[ConsumerOut]


class StreamList(ApiModel):
    """``GET /api/streams``: a page of streams, newest first; ``nextCursor`` for the next."""

    items: list[StreamOut]
    next_cursor: str | None = None


class LegacyStreamList(ApiModel):
    """``GET /api/streams/list``: the original plan's shape (every owned stream)."""

    streams: list[StreamOut]


# --- system ---


class ReadyOut(ApiModel):
    ready: bool
    status: str
    services: dict[str, ServiceHealthOut]


class StatsOut(ApiModel):
    cameras: dict[str, dict[str, Any]] = Field(description="per camera id: status and stats")
    totals: dict[str, Any]
    instance: str | None = Field(
        default=None,
        description="the api instance that answered, ``<hostname>-<pid>`` (also in the "
        "``X-Beholder-Instance`` header of every response)",
    )


class WorkerOut(ApiModel):
    """One worker as this api instance last heard it on ``worker.heartbeat``."""

    worker_id: str
    alive: bool = Field(
        description="heard from within the liveness grace (three heartbeat intervals); a "
        "worker not heard from stays listed with false for 5 minutes, then is dropped"
    )
    camera_ids: list[str] = Field(description="cameras whose sessions it runs")
    sessions: int
    leases: int | None = Field(description="camera leases held (null under ``serve``)")
    cpu_percent: float | None = Field(description="process CPU, % of one core")
    detector_load: float | None = Field(description="busy fraction of detection, 0–1")
    dropped_samples: int | None = Field(description="detection samples dropped since start")
    egress_sessions: int
    egress_errors: int
    last_heartbeat: UtcDatetime = Field(description="when its latest heartbeat arrived")
    started_at: UtcDatetime | None


class WorkersOut(ApiModel):
    """``GET /api/system/workers``: ``{"items": [WorkerOut]}``, alive workers first."""

    items: list[WorkerOut]


__all__ = [
    "AlertOut",
    "AlertSeverity",
    "AlertType",
    "CameraOut",
    "HealthOut",
    "ServiceHealthOut",
    "StreamOut",
    "StreamStatus",
]
