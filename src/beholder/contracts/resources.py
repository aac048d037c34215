"""Public views of cameras, alerts and health: REST response bodies that hub messages carry
too (a ``camera-status-update`` holds a :class:`CameraOut`, an alert message the fields of
:class:`AlertOut`, a ``health-update`` those of :class:`HealthOut`). camelCase JSON.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

from beholder.contracts.bus import CameraStatus, DetectedFace, StreamStats
from beholder.contracts.wire import UtcDatetime


class ResourceModel(BaseModel):
    """camelCase on the wire, snake_case in Python (either spelling accepted)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


Reachability = Literal["online", "offline", "unknown"]
"""Whether a camera answers, as its NVR agent's probes and the NVR cascade say (issue 11):
separate from the lifecycle ``status`` (what the worker does with it)."""

ProbeError = Literal["unauthorized", "timeout", "refused", "not-found", "protocol"]
"""Why an NVR agent's RTSP probe of a channel failed."""


class CameraProbe(ResourceModel):
    """The last RTSP probe of a camera by its NVR agent: ``latencyMs`` (ms of the
    ``OPTIONS``/``DESCRIBE`` round trip), the stream's ``codec``/``width``/``height`` when
    ``DESCRIBE`` answered, ``error`` when it failed, ``checkedAt`` when the server got it."""

    latency_ms: float | None = None
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    error: ProbeError | None = None
    checked_at: UtcDatetime | None = None


class CameraOut(ResourceModel):
    """A camera as clients see it; ``stats`` as last reported by its worker.

    ``nvrId``/``nvrChannel``: the NVR it belongs to and its channel number (``null`` for a
    camera added by hand); ``reachability``/``reachabilityDetail``: what the NVR agent's
    probes or the NVR cascade say (``"NVR offline"`` when its NVR went offline, distinct from
    a camera fault); ``probe``: the last probe's figures."""

    id: str
    name: str
    rtsp_url: str = Field(description="Credentials masked, e.g. rtsp://admin:***@host/stream")
    location: str | None
    nvr_id: str | None
    nvr_channel: int | None = None
    enabled: bool
    face_detection_enabled: bool
    status: CameraStatus
    status_detail: str | None
    error_code: str | None
    stats: StreamStats | None
    reachability: Reachability = "unknown"
    reachability_detail: str | None = None
    probe: CameraProbe | None = None
    worker_id: str | None = Field(
        default=None,
        description="The worker running the camera (the one that reported its status); "
        "null when no worker holds it",
    )
    created_at: UtcDatetime
    updated_at: UtcDatetime


AlertMetadata = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "title": "AlertMetadata",
            "additionalProperties": True,
            "properties": {
                "faces": {
                    "type": "array",
                    "items": DetectedFace.model_json_schema(mode="serialization"),
                },
                "cameraName": {"type": "string"},
                "frameWidth": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                "frameHeight": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                "detectedAt": {"type": "string"},
                "sourceTs": {"type": "number"},
                "deviceName": {"type": "string"},
                "confidence": {"type": "number"},
                "location": {
                    "type": "object",
                    "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                },
                "box": {"type": "array", "items": {"type": "number"}},
                "objectType": {"type": "string"},
            },
        }
    ),
]
"""What an alert carries besides its columns (stored as JSON, served as stored): for a face
detection ``faces`` (boxes ``[x, y, w, h]`` in source pixels), ``cameraName``,
``frameWidth``/``frameHeight``, ``detectedAt`` and maybe ``sourceTs`` (unix s); for an alert
of a mobile stream ``deviceName`` and, from an ML service, ``confidence`` (0..1),
``location`` ``{x, y}`` or ``box`` ``[x, y, w, h]``, ``objectType`` and its own keys."""

AlertType = Literal["face-detection", "system-alert", "stream-error", "ml-alert"]
"""``ml-alert``: sent by an external ML service over the mobile relay (issue 10)."""
AlertSeverity = Literal["low", "medium", "high", "critical"]


class AlertOut(ResourceModel):
    """An alert (``metadata``: :data:`AlertMetadata`)."""

    id: str
    camera_id: str | None
    stream_id: str | None
    nvr_id: str | None = Field(default=None, description="the NVR of a system alert (issue 11)")
    type: AlertType
    severity: AlertSeverity
    message: str
    metadata: AlertMetadata
    thumbnail: str | None = Field(default=None, description="small JPEG, base64")
    has_snapshot: bool
    created_at: UtcDatetime
    acknowledged_at: UtcDatetime | None
    acknowledged_by: str | None
    source: str | None = Field(
        default=None,
        description="who raised it (stream alerts): api_key:<id>, user:<id> or worker:<id>",
    )


HealthState = Literal["UNKNOWN", "STARTING", "HEALTHY", "DEGRADED", "UNHEALTHY"]


class ServiceHealthOut(ResourceModel):
    """One service's last check, in the original plan's field names (``name``, ``status``,
    ``responseTime`` in ms, ``lastCheck``, ``details``) and the earlier ones
    (``responseTimeMs``, ``lastChecked``) kept for existing clients."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")
    name: str
    status: HealthState
    # Left out for anonymous callers of /api/system/health (only name and status).
    response_time: float | None = Field(default=None, description="ms the check took")
    last_check: str | None = Field(default=None, description="ISO 8601 UTC of the check")
    response_time_ms: float | None = None
    details: dict[str, Any] | None = None
    last_checked: str | None = None
    critical: bool | None = None


class HealthOut(ResourceModel):
    """The health of the whole system: ``overall`` (the original plan's name) and
    ``status`` (the same value, kept for the web app), per-service results, ``timestamp``."""

    overall: HealthState
    status: HealthState
    ready: bool
    services: dict[str, ServiceHealthOut]
    timestamp: str
    version: str | None = None


# -- mobile streams (issue 10) ---------------------------------------------------------------

StreamStatus = Literal["offline", "online", "streaming"]
"""A mobile stream: ``online`` while its producer is connected, ``streaming`` once it sent a
frame, ``offline`` otherwise."""

MAX_METADATA_BYTES = 4096
"""Largest metadata object (stream or relay alert), as compact JSON, in bytes."""
MAX_METADATA_KEYS = 32
_RESOLUTION = re.compile(r"^([1-9][0-9]{0,3})x([1-9][0-9]{0,3})$")

Scalar = str | int | float | bool | None


def metadata_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON (how metadata bounds are measured)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def check_stream_metadata(value: dict[str, Scalar | list[Scalar]]) -> dict[str, Any]:
    """Bounds of :data:`StreamMetadata` (raises ``ValueError`` with a user-safe reason)."""
    if len(value) > MAX_METADATA_KEYS:
        raise ValueError(f"at most {MAX_METADATA_KEYS} keys")
    for key, item in value.items():
        if not 1 <= len(key) <= 64:
            raise ValueError("keys must be 1 to 64 characters")
        if isinstance(item, list) and len(item) > 64:
            raise ValueError(f"{key!r}: lists hold at most 64 values")
    resolution = value.get("resolution")
    if resolution is not None:
        m = _RESOLUTION.match(resolution) if isinstance(resolution, str) else None
        if m is None or int(m[1]) > 8192 or int(m[2]) > 8192:
            raise ValueError("'resolution' must be WIDTHxHEIGHT, each 1 to 8192 (e.g. 1920x1080)")
    fps = value.get("fps")
    if fps is not None and (
        isinstance(fps, bool) or not isinstance(fps, int | float) or not 1 <= fps <= 240
    ):
        raise ValueError("'fps' must be a number from 1 to 240")
    if metadata_size(value) > MAX_METADATA_BYTES:
        raise ValueError(f"at most {MAX_METADATA_BYTES} bytes as JSON")
    return value


StreamMetadata = Annotated[
    dict[str, Scalar | list[Scalar]],
    AfterValidator(check_stream_metadata),
    WithJsonSchema(
        {
            "type": "object",
            "title": "StreamMetadata",
            "description": "At most 32 keys and 4096 bytes as JSON; values are scalars or "
            "flat lists of scalars.",
            "maxProperties": MAX_METADATA_KEYS,
            "additionalProperties": {
                "anyOf": [
                    {"type": "string"},
                    {"type": "number"},
                    {"type": "boolean"},
                    {"type": "null"},
                    {
                        "type": "array",
                        "items": {
                            "anyOf": [
                                {"type": "string"},
                                {"type": "number"},
                                {"type": "boolean"},
                                {"type": "null"},
                            ]
                        },
                    },
                ]
            },
            "properties": {
                "resolution": {"type": "string", "pattern": r"^[1-9][0-9]{0,3}x[1-9][0-9]{0,3}$"},
                "fps": {"type": "number", "minimum": 1, "maximum": 240},
            },
        }
    ),
]
"""What a phone says about its stream (``{"resolution": "1920x1080", "fps": 30, …}``):
at most 32 keys (1 to 64 characters) and 4096 bytes as compact JSON; values are scalars or
flat lists (≤ 64) of scalars; ``resolution`` is ``WxH`` (each 1..8192), ``fps`` 1..240."""


class StreamOut(ResourceModel):
    """A mobile stream as clients see it. ``viewers``: live video consumers, ``mlConsumers``:
    connected ``ml-service`` clients (both live, from the relay); ``ownerId``: the owning
    user (``null`` for a stream owned by a key without a user)."""

    id: str
    device_name: str
    device_type: str | None
    status: StreamStatus
    last_seen: UtcDatetime | None
    metadata: dict[str, Any]
    face_detection_enabled: bool
    owner_id: str | None
    viewers: int = 0
    ml_consumers: int = 0
    created_at: UtcDatetime
    updated_at: UtcDatetime
