"""NVR fleet contract (issue 11): REST views of ``/api/nvrs`` and ``/api/stats/summary``,
and every message of the NVR agent socket ``/api/nvrs/ws``, both ways.

REST (camelCase JSON): :class:`NvrOut` (one NVR with its cameras' counts), :class:`NvrList`
(``{items, nextCursor, counts}``), :class:`NvrCreate` / :class:`NvrPatch` (admin),
:class:`NvrKeyCreated` (the agent's key, shown once, and its install command),
:class:`SummaryStats` (the operations view's figures).

Agent socket: :data:`NvrClientMessage` (agent → server) and :data:`NvrServerMessage`
(server → agent) are discriminated unions on ``type``, JSON text frames:

* agent → server: ``auth {token}`` first (an API key of scope ``nvr``; or the token in
  ``Sec-WebSocket-Protocol``), ``register {hostname, deviceName, region?, site?, model?,
  firmware?, channels: [{number, name?, url}]}``, ``heartbeat {ts?}``,
  ``probe-report {channels: [{number, reachable, latencyMs?, codec?, width?, height?,
  error?}]}``, ``ping {ts?}`` / ``pong {ts?}``;
* server → agent: ``auth-ok {principal, pingInterval}``, ``registered {nvrId,
  heartbeatSeconds, camerasCreated, camerasUpdated}``, ``error {error: {code, message,
  severity, correlationId}}``, ``ping {ts}`` / ``pong {ts}``.

Client messages are read with :data:`NVR_CLIENT_MESSAGE` (``pydantic.ValidationError`` when
malformed; unknown fields ignored so that newer agents keep working with older servers);
server messages are built by the functions below and serialized by :func:`wire`. Both
unions, :class:`SummaryStats` and the REST views are published as OpenAPI components
(:func:`openapi_components`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter
from pydantic.alias_generators import to_camel

from beholder.contracts.resources import CameraOut, ProbeError, Reachability
from beholder.contracts.wire import UtcDatetime, union_components
from beholder.contracts.wire import wire as wire
from beholder.contracts.wire import wire_bytes as wire_bytes
from beholder.errors import ErrorCode, Severity, error_body

NvrStatus = Literal["online", "offline"]
"""``online`` while its agent is connected and heard from, ``offline`` otherwise."""

DeleteCameras = Literal["detach", "delete"]
"""What ``DELETE /api/nvrs/{id}?cameras=`` does with the NVR's cameras: ``detach`` keeps
them (no NVR, reachability ``unknown``), ``delete`` stops and deletes them."""

Hostname = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$", max_length=253)
]
"""An NVR's host name (unique): letters, digits, ``._-`` (not first), at most 253."""

Label = Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True)]
"""A free-text name (device name, site), 1 to 128 characters."""

Region = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$", max_length=64)
]
"""A region name: letters, digits, space and ``._-`` (not first), at most 64."""

Reported = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
"""What an agent reports about its NVR (model, firmware), at most 64 characters."""

MAX_CHANNELS = 512
"""Channels one ``register`` may carry."""


class NvrModel(BaseModel):
    """Base of views and server messages: camelCase; every field is sent."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        json_schema_serialization_defaults_required=True,
    )


class NvrInModel(BaseModel):
    """Base of REST request bodies: camelCase (snake_case accepted), unknown fields refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class AgentInModel(BaseModel):
    """Base of agent → server messages: camelCase (snake_case accepted), extras ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


# -- REST views ------------------------------------------------------------------------------


class CameraCounts(NvrModel):
    """Cameras by reachability (``online``/``offline``/``unknown``, summing to ``total``)
    and by lifecycle status (``byStatus``: ``{"PROCESSING": n, …}``, only statuses present)."""

    total: int = 0
    online: int = 0
    offline: int = 0
    unknown: int = 0
    by_status: dict[str, int] = Field(default_factory=dict)


class NvrOut(NvrModel):
    """An NVR as clients see it. ``model``/``firmware`` as its agent reported them;
    ``lastSeen``: the last time its agent was heard from (ISO Z, ``null`` if never)."""

    id: str
    hostname: str
    device_name: str | None
    region: str | None
    site: str | None
    model: str | None
    firmware: str | None
    status: NvrStatus
    last_seen: UtcDatetime | None
    camera_counts: CameraCounts
    created_at: UtcDatetime
    updated_at: UtcDatetime


class NvrListCounts(NvrModel):
    """How many NVRs match the text filter (``q``) per status and per region (NVRs without
    a region are not counted under ``region``), whatever the status/region filters: the
    numbers of the filter chips."""

    status: dict[str, int]
    region: dict[str, int]


class NvrList(NvrModel):
    """A page of ``GET /api/nvrs``, by hostname."""

    items: list[NvrOut]
    next_cursor: str | None = None
    counts: NvrListCounts


class NvrCameraList(NvrModel):
    """A page of ``GET /api/nvrs/{id}/cameras``, by channel number then name."""

    items: list[CameraOut]
    next_cursor: str | None = None


class NvrCreate(NvrInModel):
    """``POST /api/nvrs`` (admin). The agent fills in model/firmware when it registers."""

    hostname: Hostname
    device_name: Label | None = None
    region: Region | None = None
    site: Label | None = None


class NvrPatch(NvrInModel):
    """``PATCH /api/nvrs/{id}`` (admin): the fields given change (``null`` clears the
    optional ones)."""

    hostname: Hostname | None = None
    device_name: Label | None = None
    region: Region | None = None
    site: Label | None = None


class NvrKeyCreate(NvrInModel):
    """``POST /api/nvrs/{id}/keys`` (admin): an optional key name (default
    ``nvr-<hostname>``)."""

    name: Label | None = None


class NvrKeyCreated(NvrModel):
    """A new ``nvr`` key bound to one NVR: ``key`` is shown this once; ``installCommand``
    runs the agent with it (``beholder nvr-agent --server <url> --api-key <key> --config
    nvr.yaml``)."""

    key: str
    key_id: str
    name: str
    nvr_id: str
    install_command: str
    created_at: UtcDatetime


# -- summary statistics ----------------------------------------------------------------------


class NvrCounts(NvrModel):
    total: int
    online: int
    offline: int


class RegionStats(NvrModel):
    """One region: its NVRs (and how many are online) and their cameras (and how many are
    reachable)."""

    region: str
    nvrs: int
    nvrs_online: int
    cameras: int
    cameras_online: int


class AlertHour(NvrModel):
    """Alerts created in one UTC hour starting at ``hour`` (ISO Z), by type and severity."""

    hour: UtcDatetime
    by_type: dict[str, int]
    by_severity: dict[str, int]
    total: int


class SummaryStats(NvrModel):
    """The operations view (``GET /api/stats/summary``, hub ``stats:updated``): NVRs and
    cameras (``cameras.online/offline/unknown`` by reachability, ``byStatus`` by lifecycle
    status), per region (sorted by name), alerts per hour over the last 24 h (24 entries,
    oldest first, the last one the current hour), alerts since 00:00 UTC today, and when
    the figures were taken (``timestamp``)."""

    nvrs: NvrCounts
    cameras: CameraCounts
    regions: list[RegionStats]
    alerts_by_hour: list[AlertHour]
    alerts_today: int
    timestamp: UtcDatetime


# -- agent → server --------------------------------------------------------------------------


class NvrAuth(AgentInModel):
    """First message: an API key of scope ``nvr`` (bound to one NVR)."""

    type: Literal["auth"]
    token: str = Field(min_length=1, max_length=8192)


class NvrChannel(AgentInModel):
    """One channel of the NVR: ``number`` (1..9999), an optional ``name`` (default
    ``"<deviceName> ch<n>"``) and its RTSP ``url`` (credentials allowed: stored like any
    camera URL, never returned unmasked)."""

    number: int = Field(ge=1, le=9999)
    name: Label | None = None
    url: str = Field(min_length=8, max_length=2048)


class NvrRegister(AgentInModel):
    """The agent's NVR and its channels. ``hostname`` must be the one its key is bound to
    (else ``error`` PERMISSION_DENIED and close 1008). Channel numbers must be unique."""

    type: Literal["register"]
    hostname: Hostname
    device_name: Label
    region: Region | None = None
    site: Label | None = None
    model: Reported | None = None
    firmware: Reported | None = None
    channels: list[NvrChannel] = Field(default_factory=list, max_length=MAX_CHANNELS)


class NvrHeartbeat(AgentInModel):
    """The agent is alive (every ``heartbeatSeconds``); ``ts`` its unix ms."""

    type: Literal["heartbeat"]
    ts: int | None = None


class ChannelProbe(AgentInModel):
    """One channel's probe: ``reachable``; ``latencyMs`` the RTSP round trip (ms);
    ``codec``/``width``/``height`` when ``DESCRIBE`` answered; ``error`` why not."""

    number: int = Field(ge=1, le=9999)
    reachable: bool
    latency_ms: float | None = Field(default=None, ge=0)
    codec: str | None = Field(default=None, max_length=32)
    width: int | None = Field(default=None, ge=1, le=16384)
    height: int | None = Field(default=None, ge=1, le=16384)
    error: ProbeError | None = None


class NvrProbeReport(AgentInModel):
    """Probe results of some or all channels (channels not registered are ignored)."""

    type: Literal["probe-report"]
    channels: list[ChannelProbe] = Field(max_length=MAX_CHANNELS)


class NvrClientPing(AgentInModel):
    """Agent heartbeat at the socket level (answered with ``pong``); ``ts`` unix ms."""

    type: Literal["ping"]
    ts: int | None = None


class NvrClientPong(AgentInModel):
    """Answer to the server's ``ping``."""

    type: Literal["pong"]
    ts: int | None = None


NvrClientMessage = Annotated[
    NvrAuth | NvrRegister | NvrHeartbeat | NvrProbeReport | NvrClientPing | NvrClientPong,
    Field(discriminator="type"),
]
"""Every JSON message an NVR agent sends, told apart by ``type``."""

NVR_CLIENT_MESSAGE: TypeAdapter[NvrClientMessage] = TypeAdapter(NvrClientMessage)
"""``NVR_CLIENT_MESSAGE.validate_json(text)`` → the member (``ValidationError``)."""


# -- server → agent --------------------------------------------------------------------------


class NvrPrincipal(NvrModel):
    """Who the agent authenticated as: the key's name, and the NVR it is bound to."""

    name: str
    nvr_id: str | None


class NvrAuthOk(NvrModel):
    """Authentication accepted; ``pingInterval`` in s."""

    type: Literal["auth-ok"] = "auth-ok"
    principal: NvrPrincipal
    ping_interval: float


class NvrRegistered(NvrModel):
    """Reply to ``register``: the NVR's id, how often to send ``heartbeat`` (s), and how
    many cameras the channels created and updated."""

    type: Literal["registered"] = "registered"
    nvr_id: str
    heartbeat_seconds: float
    cameras_created: int
    cameras_updated: int


class NvrErrorDetail(NvrModel):
    """The one error shape (DESIGN §6)."""

    code: str
    message: str
    severity: Literal["INFO", "WARNING", "ERROR", "CRITICAL"]
    correlation_id: str


class NvrError(NvrModel):
    """A refused message or a failure; the socket stays open unless a close follows."""

    type: Literal["error"] = "error"
    error: NvrErrorDetail


class NvrPing(NvrModel):
    """Server heartbeat; ``ts`` unix ms. Any agent message counts as the answer."""

    type: Literal["ping"] = "ping"
    ts: int | None = None


class NvrPong(NvrModel):
    """Answer to an agent ``ping`` (echoes its ``ts``)."""

    type: Literal["pong"] = "pong"
    ts: int | None = None


NvrServerMessage = Annotated[
    NvrAuthOk | NvrRegistered | NvrError | NvrPing | NvrPong,
    Field(discriminator="type"),
]
"""Every JSON message ``/api/nvrs/ws`` sends, told apart by ``type``."""

NVR_SERVER_MESSAGE: TypeAdapter[NvrServerMessage] = TypeAdapter(NvrServerMessage)
"""Validates a wire dict into its :data:`NvrServerMessage` member (agent, tests)."""


def auth_ok(name: str, nvr_id: str | None, ping_interval: float) -> NvrAuthOk:
    """Reply to a successful ``auth``."""
    return NvrAuthOk(principal=NvrPrincipal(name=name, nvr_id=nvr_id), ping_interval=ping_interval)


def registered(
    nvr_id: str, heartbeat_seconds: float, cameras_created: int, cameras_updated: int
) -> NvrRegistered:
    """Reply to ``register``."""
    return NvrRegistered(
        nvr_id=nvr_id,
        heartbeat_seconds=heartbeat_seconds,
        cameras_created=cameras_created,
        cameras_updated=cameras_updated,
    )


def error(
    code: ErrorCode, message: str, correlation_id: str, *, severity: Severity | None = None
) -> NvrError:
    """An ``error`` in the one error shape; ``message`` must be user-safe."""
    body = error_body(code, message, correlation_id, severity=severity)["error"]
    return NvrError(error=NvrErrorDetail.model_validate(body))


def ping(ts_ms: int) -> NvrPing:
    """Server heartbeat at ``ts_ms`` (unix ms)."""
    return NvrPing(ts=ts_ms)


def pong(ts_ms: int | None) -> NvrPong:
    """Answer to an agent ``ping``."""
    return NvrPong(ts=ts_ms)


def openapi_components(ref_template: str = "#/components/schemas/{model}") -> dict[str, Any]:
    """JSON schemas for the OpenAPI ``components.schemas``: ``NvrClientMessage`` and
    ``NvrServerMessage`` (``oneOf`` with a ``type`` discriminator) and their models."""
    return union_components(
        (
            (
                "NvrClientMessage",
                NVR_CLIENT_MESSAGE,
                "validation",
                "Every JSON message an NVR agent sends on /api/nvrs/ws, told apart by `type`.",
            ),
            (
                "NvrServerMessage",
                NVR_SERVER_MESSAGE,
                "serialization",
                "Every JSON message /api/nvrs/ws sends, told apart by `type`.",
            ),
        ),
        ref_template,
    )


__all__ = [
    "MAX_CHANNELS",
    "NVR_CLIENT_MESSAGE",
    "NVR_SERVER_MESSAGE",
    "AlertHour",
    "CameraCounts",
    "ChannelProbe",
    "DeleteCameras",
    "NvrAuth",
    "NvrCameraList",
    "NvrChannel",
    "NvrClientMessage",
    "NvrCreate",
    "NvrHeartbeat",
    "NvrKeyCreate",
    "NvrKeyCreated",
    "NvrList",
    "NvrListCounts",
    "NvrOut",
    "NvrPatch",
    "NvrProbeReport",
    "NvrRegister",
    "NvrServerMessage",
    "NvrStatus",
    "Reachability",
    "RegionStats",
    "SummaryStats",
]
