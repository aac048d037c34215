"""Compatibility name of the wire contract: re-exports :mod:`beholder.contracts` (bus
subjects and payloads, wire helpers). New code imports from ``beholder.contracts.*``; every
model is defined once, there.
"""

from __future__ import annotations

from beholder.contracts.bus import (
    CameraCommand,
    CameraSpec,
    CameraStatus,
    CommandType,
    ConnectionQuality,
    DetectedFace,
    FaceDetectionAlert,
    HubBroadcast,
    StreamStats,
    StreamStatusEvent,
    WorkerHeartbeat,
)
from beholder.contracts.subjects import Subjects
from beholder.contracts.wire import Id, UtcDatetime, WireModel, is_id, iso_z, new_id, utcnow

__all__ = [
    "CameraCommand",
    "CameraSpec",
    "CameraStatus",
    "CommandType",
    "ConnectionQuality",
    "DetectedFace",
    "FaceDetectionAlert",
    "HubBroadcast",
    "Id",
    "StreamStats",
    "StreamStatusEvent",
    "Subjects",
    "UtcDatetime",
    "WireModel",
    "WorkerHeartbeat",
    "is_id",
    "iso_z",
    "new_id",
    "utcnow",
]
