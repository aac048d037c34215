"""Every message of the mobile relay ``/api/streams/ws`` (issue 10, DESIGN §7), both ways.

:data:`RelayClientMessage` (client → server) and :data:`RelayServerMessage` (server →
client) are discriminated unions on ``type``; JSON text frames, camelCase keys. Video may
also travel as binary frames (:mod:`beholder.contracts.relay_frame`). Server messages are
built by the functions below and serialized by :func:`wire` (every field present, ``null``
when unknown; ``error.streamId`` only when the error is about a stream). Client messages
are read with :data:`RELAY_CLIENT_MESSAGE` (``pydantic.ValidationError`` when malformed;
unknown fields are ignored so that clients of the original plan keep working).

Both unions are published as OpenAPI components (:func:`openapi_components`), from which
the web app's types are generated.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.alias_generators import to_camel

from beholder.contracts.resources import (
    MAX_METADATA_BYTES,
    AlertMetadata,
    AlertOut,
    AlertSeverity,
    StreamStatus,
    metadata_size,
)
from beholder.contracts.wire import Id, UtcDatetime, union_components
from beholder.contracts.wire import wire as wire
from beholder.contracts.wire import wire_bytes as wire_bytes
from beholder.errors import ErrorCode, Severity, error_body


class RelayModel(BaseModel):
    """Base of relay messages: camelCase; every field is sent, so the schema requires it."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        json_schema_serialization_defaults_required=True,
    )


class RelayInModel(BaseModel):
    """Base of client messages: camelCase (snake_case accepted), unknown fields ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


def _video() -> list[Literal["video"]]:
    return ["video"]


def _alerts() -> list[Literal["alerts"]]:
    return ["alerts"]


def _video_and_alerts() -> list[Literal["video", "alerts"]]:
    return ["video", "alerts"]


UnixMs = Annotated[int, Field(ge=0, le=2**63 - 1, description="unix time, milliseconds")]

# -- client → server ---------------------------------------------------------------------


class RelayAuth(RelayInModel):
    """First message: an access token (JWT) or an API key (scope ``mobile``/``ml-service``)."""

    type: Literal["auth"]
    token: str = Field(min_length=1, max_length=8192)


class RelayRegister(RelayInModel):
    """A phone becomes the producer of ``streamId`` (its owner only; replaces a previous one)."""

    type: Literal["register"]
    client_type: Literal["mobile"] = "mobile"
    stream_id: Id
    produces: list[Literal["video"]] = Field(default_factory=_video, max_length=1)
    consumes: list[Literal["alerts"]] = Field(default_factory=_alerts, max_length=1)


class RelaySubscribe(RelayInModel):
    """A dashboard or ML service consumes ``streamId``. ``binary``: video as binary frames
    (else JSON ``video-frame``); ``produces: ["alerts"]`` only for ``ml-service``."""

    type: Literal["subscribe"]
    client_type: Literal["dashboard", "ml-service"]
    stream_id: Id
    consumes: list[Literal["video", "alerts"]] = Field(
        default_factory=_video_and_alerts, min_length=1, max_length=2
    )
    produces: list[Literal["alerts"]] = Field(default_factory=list, max_length=1)
    binary: bool = False


class RelayUnsubscribe(RelayInModel):
    """Stop consuming ``streamId``."""

    type: Literal["unsubscribe"]
    stream_id: Id


class RelayVideoFrameIn(RelayInModel):
    """A JPEG frame from the stream's producer: ``data`` base64 (the decoded size is bounded
    by ``BEHOLDER_RELAY_MAX_FRAME_BYTES``), ``timestamp`` unix ms (capture time)."""

    type: Literal["video-frame"]
    stream_id: Id
    data: str = Field(min_length=4)
    timestamp: UnixMs


class RelayPoint(RelayInModel):
    """A point in source pixels."""

    x: float
    y: float


class RelayAlertMetadata(RelayInModel):
    """What an ML service says about its alert: ``confidence`` 0..1, ``location`` ``{x,y}``
    or ``box`` ``[x, y, w, h]`` (source pixels), ``objectType``; other keys are kept as
    sent. At most 4096 bytes as JSON."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    location: RelayPoint | None = None
    box: tuple[float, float, float, float] | None = None
    object_type: str | None = Field(default=None, max_length=128)


def _bounded_metadata(value: RelayAlertMetadata) -> RelayAlertMetadata:
    if metadata_size(value.model_dump(mode="json", by_alias=True)) > MAX_METADATA_BYTES:
        raise ValueError(f"at most {MAX_METADATA_BYTES} bytes as JSON")
    return value


class RelayAlertIn(RelayInModel):
    """An alert from an ``ml-service`` subscriber of ``streamId`` (persisted, then sent to
    the producer, the alert consumers and the owner's dashboards). ``timestamp``: unix ms."""

    type: Literal["alert"]
    stream_id: Id
    severity: AlertSeverity
    message: str = Field(min_length=1, max_length=500)
    alert_type: Literal["ml-alert", "face-detection"] = "ml-alert"
    metadata: Annotated[RelayAlertMetadata, AfterValidator(_bounded_metadata)] = Field(
        default_factory=RelayAlertMetadata
    )
    timestamp: UnixMs | None = None


class RelayClientPing(RelayInModel):
    """Client heartbeat (answered with ``pong``); ``ts`` unix ms. Any message counts as alive."""

    type: Literal["ping"]
    ts: int | None = None


class RelayClientPong(RelayInModel):
    """Answer to the server's ``ping``; ``ts`` unix ms (echoed, optional)."""

    type: Literal["pong"]
    ts: int | None = None


RelayClientMessage = Annotated[
    RelayAuth
    | RelayRegister
    | RelaySubscribe
    | RelayUnsubscribe
    | RelayVideoFrameIn
    | RelayAlertIn
    | RelayClientPing
    | RelayClientPong,
    Field(discriminator="type"),
]
"""Every JSON message a relay client sends, told apart by ``type``."""

RELAY_CLIENT_MESSAGE: TypeAdapter[RelayClientMessage] = TypeAdapter(RelayClientMessage)
"""``RELAY_CLIENT_MESSAGE.validate_json(text)`` → the member (``ValidationError``)."""

# -- server → client ---------------------------------------------------------------------


class RelayPing(RelayModel):
    """Server heartbeat; ``ts`` unix ms. Any client message counts as the answer."""

    type: Literal["ping"] = "ping"
    ts: int | None = None


class RelayPong(RelayModel):
    """Answer to a client ``ping``; ``ts`` its unix ms (``null`` when it sent none)."""

    type: Literal["pong"] = "pong"
    ts: int | None = None


class RelayPrincipal(RelayModel):
    """Who the connection authenticated as: user or API key name, and role."""

    name: str
    role: str


class RelayAuthOk(RelayModel):
    """Authentication accepted; ``pingInterval`` in s."""

    type: Literal["auth-ok"] = "auth-ok"
    principal: RelayPrincipal
    ping_interval: float


class RelayRegistered(RelayModel):
    """This connection is now the producer of ``streamId``."""

    type: Literal["registered"] = "registered"
    stream_id: str


class RelaySubscribed(RelayModel):
    """This connection now consumes ``consumes`` of ``streamId``."""

    type: Literal["subscribed"] = "subscribed"
    stream_id: str
    consumes: list[Literal["video", "alerts"]]


class RelayUnsubscribed(RelayModel):
    """This connection no longer consumes ``streamId``."""

    type: Literal["unsubscribed"] = "unsubscribed"
    stream_id: str


class RelayVideoFrame(RelayModel):
    """A frame for a video consumer (JSON form): ``data`` base64 JPEG, ``timestamp`` the
    producer's unix ms, ``seq`` the stream's frame counter on this instance."""

    type: Literal["video-frame"] = "video-frame"
    stream_id: str
    data: str
    timestamp: int
    seq: int


class RelayAlert(RelayModel):
    """A persisted alert of ``streamId`` (to its producer and alert consumers);
    ``timestamp`` when it was stored, ``source`` who raised it (``api_key:<id>``…)."""

    type: Literal["alert"] = "alert"
    id: str
    stream_id: str
    alert_type: str
    severity: AlertSeverity
    message: str
    metadata: AlertMetadata
    timestamp: UtcDatetime
    source: str | None


class RelayStreamStatus(RelayModel):
    """The stream's status changed (to its consumers); ``lastSeen`` ISO Z or ``null``."""

    type: Literal["stream-status"] = "stream-status"
    stream_id: str
    status: StreamStatus
    last_seen: UtcDatetime | None


class RelayProducerReplaced(RelayModel):
    """Another producer registered ``streamId``; this connection is closed next (4409)."""

    type: Literal["producer-replaced"] = "producer-replaced"
    stream_id: str


class RelayStreamDeleted(RelayModel):
    """``streamId`` was deleted; its sockets are closed next (4404)."""

    type: Literal["stream-deleted"] = "stream-deleted"
    stream_id: str


class RelayErrorDetail(RelayModel):
    """The one error shape (DESIGN §6): ``code`` an ``ErrorCode`` value, user-safe
    ``message``, ``severity``, ``correlationId``."""

    code: str
    message: str
    severity: Literal["INFO", "WARNING", "ERROR", "CRITICAL"]
    correlation_id: str


class RelayError(RelayModel):
    """A refused message or a failure; the connection stays open unless a close follows.
    ``streamId`` is present only when the error is about one stream."""

    type: Literal["error"] = "error"
    error: RelayErrorDetail
    stream_id: str | None = Field(default=None, exclude_if=lambda v: v is None)


RelayServerMessage = Annotated[
    RelayAuthOk
    | RelayRegistered
    | RelaySubscribed
    | RelayUnsubscribed
    | RelayVideoFrame
    | RelayAlert
    | RelayStreamStatus
    | RelayProducerReplaced
    | RelayStreamDeleted
    | RelayPing
    | RelayPong
    | RelayError,
    Field(discriminator="type"),
]
"""Every JSON message the relay sends, told apart by ``type``."""

RELAY_SERVER_MESSAGE: TypeAdapter[RelayServerMessage] = TypeAdapter(RelayServerMessage)
"""Validates a wire dict into its :data:`RelayServerMessage` member (tests, clients)."""


# -- builders: one per server message type ------------------------------------------------


def auth_ok(name: str, role: str, ping_interval: float) -> RelayAuthOk:
    """Reply to a successful ``auth``; ``ping_interval`` in s."""
    return RelayAuthOk(principal=RelayPrincipal(name=name, role=role), ping_interval=ping_interval)


def registered(stream_id: str) -> RelayRegistered:
    """Reply to ``register``."""
    return RelayRegistered(stream_id=stream_id)


def subscribed(stream_id: str, consumes: list[Literal["video", "alerts"]]) -> RelaySubscribed:
    """Reply to ``subscribe``."""
    return RelaySubscribed(stream_id=stream_id, consumes=consumes)


def unsubscribed(stream_id: str) -> RelayUnsubscribed:
    """Reply to ``unsubscribe``."""
    return RelayUnsubscribed(stream_id=stream_id)


def video_frame(stream_id: str, data: str, timestamp_ms: int, seq: int) -> RelayVideoFrame:
    """A frame for a JSON video consumer (``data`` base64 JPEG)."""
    return RelayVideoFrame.model_construct(
        type="video-frame", stream_id=stream_id, data=data, timestamp=timestamp_ms, seq=seq
    )


def alert(out: AlertOut) -> RelayAlert:
    """The relay message of a persisted stream alert (``out.stream_id`` must be set)."""
    if out.stream_id is None:
        raise ValueError("not a stream alert")
    return RelayAlert(
        id=out.id,
        stream_id=out.stream_id,
        alert_type=out.type,
        severity=out.severity,
        message=out.message,
        metadata=out.metadata,
        timestamp=out.created_at,
        source=out.source,
    )


def stream_status(
    stream_id: str, status: StreamStatus, last_seen: datetime | None
) -> RelayStreamStatus:
    """A status change of ``stream_id`` for its consumers."""
    return RelayStreamStatus(stream_id=stream_id, status=status, last_seen=last_seen)


def producer_replaced(stream_id: str) -> RelayProducerReplaced:
    """Told to a producer before it is closed with 4409."""
    return RelayProducerReplaced(stream_id=stream_id)


def stream_deleted(stream_id: str) -> RelayStreamDeleted:
    """Told to every socket of a deleted stream before it is closed with 4404."""
    return RelayStreamDeleted(stream_id=stream_id)


def ping(ts_ms: int) -> RelayPing:
    """Server heartbeat at ``ts_ms`` (unix ms)."""
    return RelayPing(ts=ts_ms)


def pong(ts_ms: int | None) -> RelayPong:
    """Answer to a client ``ping`` (echoes its ``ts``, else now in unix ms)."""
    return RelayPong(ts=ts_ms)


def error(
    code: ErrorCode,
    message: str,
    correlation_id: str,
    *,
    stream_id: str | None = None,
    severity: Severity | None = None,
) -> RelayError:
    """An ``error`` in the one error shape (internal codes folded into public ones, as
    :func:`beholder.errors.error_body` does); ``message`` must be user-safe."""
    body = error_body(code, message, correlation_id, severity=severity)["error"]
    return RelayError(error=RelayErrorDetail.model_validate(body), stream_id=stream_id)


def openapi_components(ref_template: str = "#/components/schemas/{model}") -> dict[str, Any]:
    """JSON schemas for the OpenAPI ``components.schemas``: ``RelayClientMessage`` and
    ``RelayServerMessage`` (``oneOf`` with a ``type`` discriminator) and their models."""
    return union_components(
        (
            (
                "RelayClientMessage",
                RELAY_CLIENT_MESSAGE,
                "validation",
                "Every JSON message a client sends on /api/streams/ws, told apart by `type`.",
            ),
            (
                "RelayServerMessage",
                RELAY_SERVER_MESSAGE,
                "serialization",
                "Every JSON message /api/streams/ws sends, told apart by `type`.",
            ),
        ),
        ref_template,
    )
