"""Public views of DB rows, shared by the REST routers and the hub messages."""

from __future__ import annotations

from typing import Any

from beholder.contracts import hub as hub_messages
from beholder.contracts.resources import AlertOut, CameraOut
from beholder.db.models import Alert, Camera
from beholder.messages import iso_z
from beholder.rtsp_url import mask_rtsp_url


def camera_out(cam: Camera) -> CameraOut:
    """A camera as clients see it: the RTSP URL with its password masked (one camera;
    lists use :func:`camera_dict` directly)."""
    return CameraOut.model_validate(camera_dict(cam))


def camera_dict(row: Any) -> dict[str, Any]:
    """A camera row (ORM object or Core row) as the JSON dict of :class:`CameraOut`.

    The list endpoint serves this straight to orjson: building pydantic models for a
    hundred cameras on every poll cost more than the query (bench/api_latency.py)."""
    return {
        "id": row.id,
        "name": row.name,
        "rtspUrl": mask_rtsp_url(row.rtsp_url),
        "location": row.location,
        "nvrId": row.nvr_id,
        "enabled": row.enabled,
        "faceDetectionEnabled": row.face_detection_enabled,
        "status": row.status,
        "statusDetail": row.status_detail,
        "errorCode": row.error_code,
        "stats": row.stats,
        "createdAt": iso_z(row.created_at),
        "updatedAt": iso_z(row.updated_at),
    }


def alert_out(alert: Alert) -> AlertOut:
    """An alert as clients see it (snapshot served separately by id); trusted row, so
    ``model_construct`` as for cameras."""
    return AlertOut.model_construct(
        id=alert.id,
        camera_id=alert.camera_id,
        stream_id=alert.stream_id,
        type=alert.type,  # type: ignore[arg-type]  # DB holds only AlertType values
        severity=alert.severity,  # type: ignore[arg-type]
        message=alert.message,
        metadata=alert.alert_metadata or {},
        thumbnail=alert.thumbnail,
        has_snapshot=alert.snapshot_path is not None,
        created_at=alert.created_at,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
    )


def alert_message(alert: Alert) -> dict[str, Any]:
    """Wire form of the hub message of an alert row (``face-detection-alert`` and the alert's
    fields, see :func:`beholder.contracts.hub.alert_message`), for live fan-out and replay."""
    return hub_messages.wire(hub_messages.alert_message(alert_out(alert)))
