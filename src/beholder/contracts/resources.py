"""Public views of cameras, alerts and health: REST response bodies that hub messages carry
too (a ``camera-status-update`` holds a :class:`CameraOut`, an alert message the fields of
:class:`AlertOut`, a ``health-update`` those of :class:`HealthOut`). camelCase JSON.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

from beholder.contracts.bus import CameraStatus, DetectedFace, StreamStats
from beholder.contracts.wire import UtcDatetime


class ResourceModel(BaseModel):
    """camelCase on the wire, snake_case in Python (either spelling accepted)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class CameraOut(ResourceModel):
    """A camera as clients see it; ``stats`` as last reported by its worker."""

    id: str
    name: str
    rtsp_url: str = Field(description="Credentials masked, e.g. rtsp://admin:***@host/stream")
    location: str | None
    nvr_id: str | None
    enabled: bool
    face_detection_enabled: bool
    status: CameraStatus
    status_detail: str | None
    error_code: str | None
    stats: StreamStats | None
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
            },
        }
    ),
]
"""What an alert carries besides its columns (stored as JSON, served as stored): for a face
detection ``faces`` (boxes ``[x, y, w, h]`` in source pixels), ``cameraName``,
``frameWidth``/``frameHeight``, ``detectedAt`` and maybe ``sourceTs`` (unix s)."""

AlertType = Literal["face-detection", "system-alert", "stream-error"]
AlertSeverity = Literal["low", "medium", "high", "critical"]


class AlertOut(ResourceModel):
    """An alert (``metadata``: :data:`AlertMetadata`)."""

    id: str
    camera_id: str | None
    stream_id: str | None
    type: AlertType
    severity: AlertSeverity
    message: str
    metadata: AlertMetadata
    thumbnail: str | None = Field(default=None, description="small JPEG, base64")
    has_snapshot: bool
    created_at: UtcDatetime
    acknowledged_at: UtcDatetime | None
    acknowledged_by: str | None


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
