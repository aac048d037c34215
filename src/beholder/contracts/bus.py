"""Bus payloads (DESIGN §5): what the api and the worker send each other.

Subjects are in :mod:`beholder.contracts.subjects`; every payload is a
:class:`~beholder.contracts.wire.WireModel` (camelCase JSON, ``to_bytes``/``from_bytes``).
Every id is an :data:`~beholder.contracts.wire.Id` (a UUID, checked when the payload is read):
ids become file names, subject tokens and DB keys, so a payload with any other id is refused
whole (``ValidationError``) before a consumer acts on it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from beholder.contracts.wire import Id, Name, UtcDatetime, WireModel, new_id, utcnow


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

    camera_id: Id
    name: str
    rtsp_url: str
    face_detection_enabled: bool = True


class CameraCommand(WireModel):
    """api → worker: a command for one camera. ``payload`` holds a :class:`CameraSpec`
    for START/RESTART and ``{"enabled": bool}`` for TOGGLE_FACE_DETECTION."""

    id: Id = Field(default_factory=new_id)
    command_type: CommandType
    camera_id: Id
    payload: dict[str, Any] = Field(default_factory=dict)
    timestamp: UtcDatetime = Field(default_factory=utcnow)
    correlation_id: Id = Field(default_factory=new_id)


ConnectionQuality = Literal["excellent", "fair", "poor", "unusable"]


class StreamStats(WireModel):
    """Per-camera ingest/detection/egress figures reported by the worker.

    Stored as sent (``None`` fields left out), so its schema marks every field optional."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        json_schema_mode_override="validation",
    )

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
    """worker → api: a camera's status changed (or periodic stats).

    In distributed mode ``epoch`` is the worker's lease epoch for the camera and ``seq``
    counts this camera's events within that epoch (1, 2, …): the api stores an event only
    when ``(epoch, seq)`` is newer than the stored one (fencing: an older owner's or a
    redelivered event never overwrites a newer state). Both are ``None`` under ``serve``."""

    id: Id = Field(default_factory=new_id)
    """De-duplicates a re-published event (JetStream ``Nats-Msg-Id``)."""
    camera_id: Id
    status: CameraStatus
    error_code: str | None = None
    details: str | None = None
    attempt: int | None = None
    stats: StreamStats | None = None
    worker_id: Name | None = None
    timestamp: UtcDatetime = Field(default_factory=utcnow)
    correlation_id: Id | None = None
    epoch: int | None = Field(default=None, ge=1)
    seq: int | None = Field(default=None, ge=1)


class DetectedFace(WireModel):
    """A face: box ``[x, y, w, h]`` in source pixels, confidence 0–1, tracker id."""

    box: tuple[int, int, int, int]
    confidence: float = Field(ge=0.0, le=1.0)
    track_id: int | None = None


class FaceDetectionAlert(WireModel):
    """worker → api: new face(s) appeared on a camera (``cameraId``) or on a mobile stream
    analysed by the built-in detector (``streamId``); exactly one of the two is set.

    ``thumbnail``: small JPEG, base64 (a few KB). ``snapshot``: full frame with boxes drawn,
    JPEG base64; the api stores it under the data dir and serves it at
    ``/api/alerts/{id}/snapshot.jpg`` (the api is the only writer of persisted state).
    """

    id: Id = Field(default_factory=new_id)
    camera_id: Id | None = None
    stream_id: Id | None = None
    detected_at: UtcDatetime = Field(default_factory=utcnow)
    faces: list[DetectedFace]
    thumbnail: str | None = None
    snapshot: str | None = None
    snapshot_id: Id | None = None
    frame_width: int | None = None
    frame_height: int | None = None
    source_ts: float | None = None
    correlation_id: Id | None = None
    worker_id: Name | None = None
    """The worker that raised it (stored as the alert's source ``worker:<id>``)."""
    epoch: int | None = Field(default=None, ge=1)
    """The raising worker's lease epoch for ``cameraId`` (distributed mode): an alert of an
    epoch older than the camera's current one is dropped (fencing)."""

    @model_validator(mode="after")
    def _one_source(self) -> FaceDetectionAlert:
        if (self.camera_id is None) == (self.stream_id is None):
            raise ValueError("exactly one of cameraId and streamId must be set")
        return self


class StreamDetectionCommand(WireModel):
    """api → workers (``stream.detection``): analyse mobile stream ``streamId`` with the
    built-in face detector (``enabled``) or stop. Its frames arrive on
    ``relay.frames.<streamId>``; alerts go back as :class:`FaceDetectionAlert` with
    ``streamId`` on ``camera.events``. ``deviceName`` names the stream in alert messages."""

    stream_id: Id
    enabled: bool
    device_name: str | None = Field(default=None, max_length=128)
    timestamp: UtcDatetime = Field(default_factory=utcnow)


class StreamDetectionList(WireModel):
    """api → a worker (reply on ``stream.detection.list``): every stream with face detection
    enabled now, each as the command that would switch it on."""

    streams: list[StreamDetectionCommand] = Field(default_factory=list)


class WorkerHeartbeat(WireModel):
    """worker → everyone: I am alive and hold these sessions."""

    worker_id: Name
    sessions: int
    camera_ids: list[Id] = Field(default_factory=list)
    egress_sessions: int = 0
    egress_errors: int = 0
    leases: int | None = None
    """Camera leases held (distributed mode; ``None`` under ``serve``)."""
    cpu_percent: float | None = None
    """The worker process's CPU use over the last heartbeat interval, % of one core."""
    detector_load: float | None = None
    """Busy fraction of the detection threads over the last interval, 0–1."""
    dropped_samples: int | None = None
    """Detection samples dropped (detector busy) since the worker started."""
    started_at: UtcDatetime | None = None
    timestamp: UtcDatetime = Field(default_factory=utcnow)


class HubBroadcast(WireModel):
    """api → every api instance (``hub.broadcast``): hand ``message`` to the local hub.

    ``message`` is the wire form of a :data:`beholder.contracts.hub.HubMessage`
    (:func:`beholder.contracts.hub.wire`); ``topic`` and ``camera_id`` select the
    connections (see :meth:`beholder.realtime.hub.Hub.broadcast`); with ``stream_id`` only
    those whose principal owns the stream (``owner_id``/``owner_key_id``, the rule of
    :mod:`beholder.auth.ownership`)."""

    topic: str
    camera_id: Id | None = None
    message: dict[str, Any]
    stream_id: Id | None = None
    """Set for a message about a mobile stream: only connections that own it get it."""
    owner_id: Id | None = None
    """The stream's owning user (with ``stream_id``)."""
    owner_key_id: Id | None = None
    """The stream's owning API key (with ``stream_id``)."""
