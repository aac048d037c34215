"""Wire models shared by every role (DESIGN §5): pydantic, camelCase JSON on the bus.

Bus payloads are UTF-8 JSON produced by :meth:`WireModel.to_bytes` and read back with
:meth:`WireModel.from_bytes` (raises ``pydantic.ValidationError`` on a malformed payload).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel


def utcnow() -> datetime:
    """Timezone-aware UTC now."""
    return datetime.now(UTC)


def new_id() -> str:
    """A new UUID4 as a string (IDs are UUID strings on the wire)."""
    return str(uuid.uuid4())


def iso_z(value: datetime) -> str:
    """ISO 8601 UTC with a ``Z`` suffix and millisecond precision."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


UtcDatetime = Annotated[datetime, PlainSerializer(iso_z, return_type=str, when_used="json")]


class Subjects:
    """Bus subjects (the original plan's Kafka topic names)."""

    CAMERA_COMMANDS = "camera.commands"
    STREAM_STATUS = "stream.status"
    CAMERA_EVENTS = "camera.events"
    NVR_STATUS = "nvr.status"
    SYSTEM_HEALTH = "system.health"
    WORKER_HEARTBEAT = "worker.heartbeat"
    HUB_BROADCAST = "hub.broadcast"
    """api → every api instance's hub: ``{"topic", "cameraId"?, "message"}``."""
    WORKER_PING = "worker.ping"
    """Request/reply: any live worker answers with a :class:`WorkerHeartbeat`."""


class WireModel(BaseModel):
    """Base for bus and hub payloads: camelCase aliases, accepts either spelling."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_wire(self) -> dict[str, Any]:
        """JSON-ready dict with camelCase keys, ``None`` fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_bytes(self) -> bytes:
        """UTF-8 JSON for the bus."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes | str) -> Self:
        """Parse a bus payload; raises ``pydantic.ValidationError`` when malformed."""
        return cls.model_validate_json(data)


class CameraStatus(StrEnum):
    """Camera lifecycle (DESIGN §4)."""

    OFFLINE = "OFFLINE"
    STARTING = "STARTING"
    CONNECTING = "CONNECTING"
    PROCESSING = "PROCESSING"
    ERROR = "ERROR"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"

    @property
    def is_running(self) -> bool:
        """True while a worker is (or should be) holding a session for the camera."""
        return self in _RUNNING


_RUNNING = {CameraStatus.STARTING, CameraStatus.CONNECTING, CameraStatus.PROCESSING}


class CommandType(StrEnum):
    START_STREAM = "START_STREAM"
    STOP_STREAM = "STOP_STREAM"
    RESTART_STREAM = "RESTART_STREAM"
    TOGGLE_FACE_DETECTION = "TOGGLE_FACE_DETECTION"


class CameraSpec(WireModel):
    """What a worker needs to run a camera (sent in START/RESTART payloads; never persisted)."""

    camera_id: str
    name: str
    rtsp_url: str
    face_detection_enabled: bool = True


class CameraCommand(WireModel):
    """api → worker: a command for one camera. ``payload`` holds a :class:`CameraSpec`
    for START/RESTART and ``{"enabled": bool}`` for TOGGLE_FACE_DETECTION."""

    id: str = Field(default_factory=new_id)
    command_type: CommandType
    camera_id: str
    payload: dict[str, Any] = Field(default_factory=dict)
    timestamp: UtcDatetime = Field(default_factory=utcnow)
    correlation_id: str = Field(default_factory=new_id)


ConnectionQuality = Literal["excellent", "fair", "poor", "unusable"]


class StreamStats(WireModel):
    """Per-camera ingest/detection/egress figures reported by the worker."""

    input_fps: float = 0.0
    decoded_fps: float = 0.0
    detection_fps: float = 0.0
    detector_ms_p50: float | None = None
    decode_ms_p50: float | None = None
    reconnects_last_hour: int = 0
    stalls_last_hour: int = 0
    dropped_samples: int = 0
    """Detection samples lost because the detector was busy (since the session started)."""
    skipped_static: int = 0
    """Samples the motion gate found static and did not analyse (since the session started)."""
    analysed_samples: int = 0
    """Samples run through the face detector (since the session started)."""
    uptime_s: float = 0.0
    bytes_in: int = 0
    width: int | None = None
    height: int | None = None
    codec: str | None = None
    expected_fps: float | None = None
    connection_quality: ConnectionQuality = "excellent"
    egress: Literal["passthrough", "transcode", "none"] | None = None
    viewers: int | None = None


class StreamStatusEvent(WireModel):
    """worker → api: a camera's status changed (or periodic stats)."""

    camera_id: str
    status: CameraStatus
    error_code: str | None = None
    details: str | None = None
    attempt: int | None = None
    stats: StreamStats | None = None
    worker_id: str | None = None
    timestamp: UtcDatetime = Field(default_factory=utcnow)
    correlation_id: str | None = None


class DetectedFace(WireModel):
    """A face: box ``[x, y, w, h]`` in source pixels, confidence 0–1, tracker id."""

    box: tuple[int, int, int, int]
    confidence: float = Field(ge=0.0, le=1.0)
    track_id: int | None = None


class FaceDetectionAlert(WireModel):
    """worker → api: new face(s) appeared on a camera.

    ``thumbnail``: small JPEG, base64 (a few KB). ``snapshot``: full frame with boxes drawn,
    JPEG base64; the api stores it under the data dir and serves it at
    ``/api/alerts/{id}/snapshot.jpg`` (the api is the only writer of persisted state).
    """

    id: str = Field(default_factory=new_id)
    camera_id: str
    detected_at: UtcDatetime = Field(default_factory=utcnow)
    faces: list[DetectedFace]
    thumbnail: str | None = None
    snapshot: str | None = None
    snapshot_id: str | None = None
    frame_width: int | None = None
    frame_height: int | None = None
    source_ts: float | None = None
    correlation_id: str | None = None


class WorkerHeartbeat(WireModel):
    """worker → everyone: I am alive and hold these sessions."""

    worker_id: str
    sessions: int
    camera_ids: list[str] = Field(default_factory=list)
    egress_sessions: int = 0
    egress_errors: int = 0
    timestamp: UtcDatetime = Field(default_factory=utcnow)
