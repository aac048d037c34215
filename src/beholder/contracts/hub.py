"""Every message the dashboard hub ``/ws`` sends (DESIGN §6/§7), as one discriminated union.

:data:`HubMessage` is the union (discriminator ``type``); each member is built by exactly one
function below (``auth_ok``, ``camera_status_update``, …) and goes on the wire through
:func:`wire` — camelCase keys, every field present (``null`` when unknown) so that a message
type has one shape whoever builds it. The one exception is ``error.topics``, sent only when
a ``subscribe`` named unknown topics.

The schema of the union is published as the ``HubMessage`` component of the OpenAPI
document (:func:`openapi_components`), from which the web app's types are generated.
Client → server messages are parsed in :mod:`beholder.realtime.protocol`.

NVR fleet (issue 11), topic ``nvrs``: ``nvr_online``/``nvr_offline``
(:class:`NvrConnectivity`), ``nvr_status_update``, ``nvr_deleted`` and the fleet summary
``stats:updated`` (:class:`SummaryUpdated`, debounced server-side). The plan's
``camera_status_update`` is this project's ``camera-status-update`` (topic ``cameras``; its
``camera`` carries reachability); a camera's own figures are ``camera-stats-update`` (topic
``stats``), called ``stats:updated`` before the summary took that name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.alias_generators import to_camel

from beholder.contracts.bus import CameraStatus, StreamStats
from beholder.contracts.nvr import NvrOut, SummaryStats
from beholder.contracts.resources import (
    AlertMetadata,
    AlertOut,
    AlertSeverity,
    AlertType,
    CameraOut,
    HealthOut,
    StreamStatus,
)
from beholder.contracts.wire import UtcDatetime, union_components, utcnow
from beholder.contracts.wire import wire as wire


class HubModel(BaseModel):
    """Base of hub messages: camelCase; every field is sent, so the schema requires it."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        json_schema_serialization_defaults_required=True,
    )


# -- replies to one connection -------------------------------------------------------------


class HubPrincipal(HubModel):
    """Who the connection authenticated as: user name (or API key name) and role."""

    name: str
    role: str


class AuthOk(HubModel):
    """Authentication accepted. ``expiresAt``: unix s when the token expires (``null`` for an
    API key); ``pingInterval``: s between the server's pings."""

    type: Literal["auth-ok"] = "auth-ok"
    principal: HubPrincipal
    expires_at: float | None
    ping_interval: float


class Subscribed(HubModel):
    """The valid topics of a ``subscribe`` (now subscribed)."""

    type: Literal["subscribed"] = "subscribed"
    topics: list[str]


class Unsubscribed(HubModel):
    """The valid topics of an ``unsubscribe`` (no longer subscribed)."""

    type: Literal["unsubscribed"] = "unsubscribed"
    topics: list[str]


class Replayed(HubModel):
    """End of an alert replay: ``count`` alerts sent, the newest ``lastAlertId``;
    ``truncated`` when more were missed than the replay limit."""

    type: Literal["replayed"] = "replayed"
    count: int
    last_alert_id: str | None
    truncated: bool


class Ping(HubModel):
    """Server heartbeat; any client message counts as the answer. ``ts``: unix ms."""

    type: Literal["ping"] = "ping"
    ts: int


class Pong(HubModel):
    """Answer to a client ``ping``. ``ts``: unix ms."""

    type: Literal["pong"] = "pong"
    ts: int


class HubError(HubModel):
    """A refused message or a failure; ``code`` is an ``ErrorCode`` value, ``message`` is
    user-safe; ``topics`` (only when present) lists unknown topics of a ``subscribe``."""

    type: Literal["error"] = "error"
    code: str
    message: str
    topics: list[str] | None = Field(default=None, exclude_if=lambda v: v is None)


# -- broadcasts ----------------------------------------------------------------------------


class CameraStatusUpdate(HubModel):
    """A camera's status changed (topic ``cameras`` and ``camera:<id>``).

    From a worker's ``stream.status`` event (``attempt``, ``stats``, ``workerId`` set) or
    from a REST change (``camera`` holds the whole camera). ``details`` is user-safe."""

    type: Literal["camera-status-update"] = "camera-status-update"
    camera_id: str
    status: CameraStatus
    error_code: str | None = None
    details: str | None = None
    attempt: int | None = None
    stats: StreamStats | None = None
    worker_id: str | None = None
    camera: CameraOut | None = None
    timestamp: UtcDatetime
    correlation_id: str | None = None


class CameraDeleted(HubModel):
    """A camera was deleted."""

    type: Literal["camera-deleted"] = "camera-deleted"
    camera_id: str
    timestamp: UtcDatetime


class AlertMessage(HubModel):
    """A new alert (topic ``alerts`` and ``camera:<id>``): the fields of ``AlertOut`` with
    the alert's own type as ``alertType`` (``type`` is the message type:
    ``face-detection-alert`` for face detections, ``alert`` for the others)."""

    type: Literal["face-detection-alert", "alert"]
    alert_type: AlertType
    id: str
    camera_id: str | None
    stream_id: str | None
    nvr_id: str | None = None
    severity: AlertSeverity
    message: str
    metadata: AlertMetadata
    thumbnail: str | None = Field(default=None, description="small JPEG, base64")
    has_snapshot: bool
    created_at: UtcDatetime
    acknowledged_at: UtcDatetime | None
    acknowledged_by: str | None
    source: str | None


class AlertAcknowledged(HubModel):
    """An alert was acknowledged (by ``acknowledgedBy``, at ``acknowledgedAt``)."""

    type: Literal["alert-acknowledged"] = "alert-acknowledged"
    alert_id: str
    camera_id: str | None
    stream_id: str | None = None
    acknowledged_by: str | None
    acknowledged_at: UtcDatetime


class StreamStatusUpdate(HubModel):
    """A mobile stream's status changed (topic ``streams``; only to connections whose
    principal owns the stream). ``lastSeen``: ISO Z or ``null``."""

    type: Literal["stream-status-update"] = "stream-status-update"
    stream_id: str
    status: StreamStatus
    last_seen: UtcDatetime | None
    device_name: str
    timestamp: UtcDatetime


class HealthUpdate(HealthOut):
    """The system health changed (topic ``health``): the body of ``/api/system/health``."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        json_schema_serialization_defaults_required=True,
    )
    type: Literal["health-update"] = "health-update"


class CameraStatsUpdate(HubModel):
    """A camera's figures (topic ``stats`` and ``camera:<id>``). Was typed ``stats:updated``
    before issue 11 gave that name to the fleet summary."""

    type: Literal["camera-stats-update"] = "camera-stats-update"
    camera_id: str
    stats: StreamStats


class NvrConnectivity(HubModel):
    """An NVR came online (``nvr_online``) or went offline (``nvr_offline``) (topic
    ``nvrs``), sent after the change is persisted. ``camerasUpdated``: how many of its
    cameras changed reachability with it (each also gets a ``camera-status-update`` on
    topic ``cameras``)."""

    type: Literal["nvr_online", "nvr_offline"]
    nvr_id: str
    hostname: str
    device_name: str | None
    region: str | None
    cameras_updated: int
    timestamp: UtcDatetime


class NvrStatusUpdate(HubModel):
    """An NVR changed (status, last seen after a return, fields, counts) (topic ``nvrs``):
    ``nvr`` holds the whole :class:`~beholder.contracts.nvr.NvrOut`."""

    type: Literal["nvr_status_update"] = "nvr_status_update"
    nvr: NvrOut
    timestamp: UtcDatetime


class NvrDeleted(HubModel):
    """An NVR was deleted (topic ``nvrs``); its cameras were detached or deleted (each
    with its own ``camera-status-update`` or ``camera-deleted``)."""

    type: Literal["nvr_deleted"] = "nvr_deleted"
    nvr_id: str
    timestamp: UtcDatetime


class SummaryUpdated(HubModel):
    """The fleet summary changed (topic ``nvrs``): the body of ``/api/stats/summary``,
    pushed at most every ``BEHOLDER_NVR_STATS_DEBOUNCE`` s (0.5 by default)."""

    type: Literal["stats:updated"] = "stats:updated"
    summary: SummaryStats


HubMessage = Annotated[
    AuthOk
    | Subscribed
    | Unsubscribed
    | Replayed
    | Ping
    | Pong
    | HubError
    | CameraStatusUpdate
    | CameraDeleted
    | AlertMessage
    | AlertAcknowledged
    | StreamStatusUpdate
    | HealthUpdate
    | CameraStatsUpdate
    | NvrConnectivity
    | NvrStatusUpdate
    | NvrDeleted
    | SummaryUpdated,
    Field(discriminator="type"),
]
"""Every message the hub sends, told apart by ``type``."""

HUB_MESSAGE: TypeAdapter[HubMessage] = TypeAdapter(HubMessage)
"""Validates a wire dict into its :data:`HubMessage` member (``pydantic.ValidationError``)."""


# -- builders: one per message type --------------------------------------------------------


def auth_ok(name: str, role: str, expires_at: float | None, ping_interval: float) -> AuthOk:
    """Reply to a successful ``auth``; ``expires_at`` unix s, ``ping_interval`` s."""
    return AuthOk(
        principal=HubPrincipal(name=name, role=role),
        expires_at=expires_at,
        ping_interval=ping_interval,
    )


def subscribed(topics: list[str]) -> Subscribed:
    """Reply to ``subscribe`` with the valid topics."""
    return Subscribed(topics=topics)


def unsubscribed(topics: list[str]) -> Unsubscribed:
    """Reply to ``unsubscribe`` with the valid topics."""
    return Unsubscribed(topics=topics)


def replayed(count: int, last_alert_id: str | None, truncated: bool) -> Replayed:
    """Summary after the replayed alerts."""
    return Replayed(count=count, last_alert_id=last_alert_id, truncated=truncated)


def ping(ts_ms: int) -> Ping:
    """Server heartbeat at ``ts_ms`` (unix ms)."""
    return Ping(ts=ts_ms)


def pong(ts_ms: int) -> Pong:
    """Answer to a client ping at ``ts_ms`` (unix ms)."""
    return Pong(ts=ts_ms)


def error(code: str, message: str, topics: list[str] | None = None) -> HubError:
    """An error for the client; ``message`` must be user-safe."""
    return HubError(code=code, message=message, topics=topics)


def camera_status_update(
    camera_id: str,
    status: CameraStatus,
    *,
    error_code: str | None = None,
    details: str | None = None,
    attempt: int | None = None,
    stats: StreamStats | None = None,
    worker_id: str | None = None,
    camera: CameraOut | None = None,
    timestamp: datetime | None = None,
    correlation_id: str | None = None,
) -> CameraStatusUpdate:
    """A camera's status for dashboards; ``timestamp`` defaults to now (UTC)."""
    return CameraStatusUpdate(
        camera_id=camera_id,
        status=status,
        error_code=error_code,
        details=details,
        attempt=attempt,
        stats=stats,
        worker_id=worker_id,
        camera=camera,
        timestamp=timestamp or utcnow(),
        correlation_id=correlation_id,
    )


def camera_deleted(camera_id: str) -> CameraDeleted:
    """A camera is gone (now)."""
    return CameraDeleted(camera_id=camera_id, timestamp=utcnow())


_ALERT_FIELDS = tuple(n for n in AlertOut.model_fields if n != "type")


def alert_message(alert: AlertOut) -> AlertMessage:
    """The hub message of a (persisted, trusted) alert: not validated again, as the REST
    view it comes from (replays build hundreds of these)."""
    kind: Literal["face-detection-alert", "alert"] = (
        "face-detection-alert" if alert.type == "face-detection" else "alert"
    )
    fields = {n: getattr(alert, n) for n in _ALERT_FIELDS}
    return AlertMessage.model_construct(type=kind, alert_type=alert.type, **fields)


def alert_acknowledged(
    alert_id: str,
    camera_id: str | None,
    acknowledged_by: str | None,
    acknowledged_at: datetime,
    stream_id: str | None = None,
) -> AlertAcknowledged:
    """An alert was acknowledged."""
    return AlertAcknowledged(
        alert_id=alert_id,
        camera_id=camera_id,
        stream_id=stream_id,
        acknowledged_by=acknowledged_by,
        acknowledged_at=acknowledged_at,
    )


def stream_status_update(
    stream_id: str,
    status: StreamStatus,
    last_seen: datetime | None,
    device_name: str,
    timestamp: datetime | None = None,
) -> StreamStatusUpdate:
    """A mobile stream's status for its owner's dashboards; ``timestamp`` defaults to now."""
    return StreamStatusUpdate(
        stream_id=stream_id,
        status=status,
        last_seen=last_seen,
        device_name=device_name,
        timestamp=timestamp or utcnow(),
    )


def health_update(snapshot: Mapping[str, Any]) -> HealthUpdate:
    """The hub message of a health snapshot (``HealthChecker.snapshot()``, camelCase)."""
    return HealthUpdate.model_validate({**snapshot, "type": "health-update"})


def camera_stats_update(camera_id: str, stats: StreamStats) -> CameraStatsUpdate:
    """A camera's latest figures."""
    return CameraStatsUpdate(camera_id=camera_id, stats=stats)


def nvr_connectivity(
    online: bool,
    nvr_id: str,
    hostname: str,
    device_name: str | None,
    region: str | None,
    cameras_updated: int,
    timestamp: datetime | None = None,
) -> NvrConnectivity:
    """``nvr_online`` (``online``) or ``nvr_offline``; ``timestamp`` defaults to now."""
    return NvrConnectivity(
        type="nvr_online" if online else "nvr_offline",
        nvr_id=nvr_id,
        hostname=hostname,
        device_name=device_name,
        region=region,
        cameras_updated=cameras_updated,
        timestamp=timestamp or utcnow(),
    )


def nvr_status_update(nvr: NvrOut, timestamp: datetime | None = None) -> NvrStatusUpdate:
    """An NVR's current state; ``timestamp`` defaults to now."""
    return NvrStatusUpdate(nvr=nvr, timestamp=timestamp or utcnow())


def nvr_deleted(nvr_id: str) -> NvrDeleted:
    """An NVR is gone (now)."""
    return NvrDeleted(nvr_id=nvr_id, timestamp=utcnow())


def summary_updated(summary: SummaryStats) -> SummaryUpdated:
    """The fleet summary for the operations view."""
    return SummaryUpdated(summary=summary)


def openapi_components(ref_template: str = "#/components/schemas/{model}") -> dict[str, Any]:
    """JSON schemas to add to the OpenAPI ``components.schemas``: ``HubMessage`` (the union,
    ``oneOf`` with a ``type`` discriminator) and every model it refers to."""
    return union_components(
        (
            (
                "HubMessage",
                HUB_MESSAGE,
                "serialization",
                "Every message the dashboard hub /ws sends, told apart by `type`.",
            ),
        ),
        ref_template,
    )
