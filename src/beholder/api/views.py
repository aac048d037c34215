"""Public views of DB rows, shared by the REST routers and the hub messages."""

from __future__ import annotations

from typing import Any

from beholder.auth.roles import Principal, Role
from beholder.contracts import hub as hub_messages
from beholder.contracts.resources import AlertOut, CameraOut, StreamOut
from beholder.db.models import Alert, Camera, VideoStream
from beholder.errors import ErrorCode
from beholder.messages import CameraStatus, iso_z
from beholder.realtime.relay.directory import StreamCounts
from beholder.rtsp_url import mask_rtsp_url

# What a viewer sees instead of why a camera failed. The precise reason ("refused the
# connection (check the port)" vs "did not answer in time" vs "not a valid RTSP stream")
# tells whoever reads it whether a port is open, so it is for operators (who set the URL)
# and the log only; every failure to connect looks the same to everyone else.
GENERIC_ERROR_CODE = ErrorCode.STREAM_UNAVAILABLE.value
GENERIC_ERROR_DETAIL = "The camera is not available right now."
GENERIC_RETRY_DETAIL = "Reconnecting to the camera."
# Failures that are not about the camera's address and say nothing about the network.
_PUBLIC_CODES = frozenset({ErrorCode.SERVICE_UNAVAILABLE.value})


def sees_precise_status(principal: Principal) -> bool:
    """Whether ``principal`` may read why a camera failed (operator and up)."""
    return principal.can(Role.OPERATOR)


def public_status(
    status: str, error_code: str | None, detail: str | None
) -> tuple[str | None, str | None]:
    """``(errorCode, statusDetail)`` as a viewer (and the hub's broadcast) sees them:
    one generic code and sentence for every connection failure."""
    if error_code in _PUBLIC_CODES:
        return error_code, detail
    if error_code is None and detail is None:
        return None, None
    if status == CameraStatus.CONNECTING.value:
        return None, GENERIC_RETRY_DETAIL
    if error_code is None and status != CameraStatus.ERROR.value:
        return None, None
    return GENERIC_ERROR_CODE, GENERIC_ERROR_DETAIL


def camera_out(cam: Camera, *, precise: bool = False) -> CameraOut:
    """A camera as clients see it: the RTSP URL with its password masked, the status detail
    precise for operators (``precise``) and generic otherwise (one camera; lists use
    :func:`camera_dict` directly)."""
    return CameraOut.model_validate(camera_dict(cam, precise=precise))


def public_camera(cam: CameraOut) -> CameraOut:
    """``cam`` with the status detail every principal may see (for broadcasts)."""
    code, detail = public_status(cam.status.value, cam.error_code, cam.status_detail)
    return cam.model_copy(update={"error_code": code, "status_detail": detail})


def camera_dict(row: Any, *, precise: bool = False) -> dict[str, Any]:
    """A camera row (ORM object or Core row) as the JSON dict of :class:`CameraOut`;
    ``precise``: the worker's own status detail and error code (operators), else the
    generic ones of :func:`public_status`.

    The list endpoint serves this straight to orjson: building pydantic models for a
    hundred cameras on every poll cost more than the query (bench/api_latency.py)."""
    code, detail = (
        (row.error_code, row.status_detail)
        if precise
        else public_status(row.status, row.error_code, row.status_detail)
    )
    return {
        "id": row.id,
        "name": row.name,
        "rtspUrl": mask_rtsp_url(row.rtsp_url),
        "location": row.location,
        "nvrId": row.nvr_id,
        "nvrChannel": row.nvr_channel,
        "enabled": row.enabled,
        "faceDetectionEnabled": row.face_detection_enabled,
        "status": row.status,
        "statusDetail": detail,
        "errorCode": code,
        "stats": row.stats,
        "reachability": row.reachability,
        "reachabilityDetail": row.reachability_detail,
        "probe": row.probe,
        "workerId": row.worker_id,
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
        nvr_id=alert.nvr_id,
        type=alert.type,  # type: ignore[arg-type]  # DB holds only AlertType values
        severity=alert.severity,  # type: ignore[arg-type]
        message=alert.message,
        metadata=alert.alert_metadata or {},
        thumbnail=alert.thumbnail,
        has_snapshot=alert.snapshot_path is not None,
        created_at=alert.created_at,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
        source=alert.source,
    )


def alert_message(alert: Alert) -> dict[str, Any]:
    """Wire form of the hub message of an alert row (``face-detection-alert`` and the alert's
    fields, see :func:`beholder.contracts.hub.alert_message`), for live fan-out and replay."""
    return hub_messages.wire(hub_messages.alert_message(alert_out(alert)))


def stream_out(stream: VideoStream, counts: StreamCounts) -> StreamOut:
    """A stream as clients see it, with its live ``counts`` (from the relay)."""
    return StreamOut.model_construct(
        id=stream.id,
        device_name=stream.device_name,
        device_type=stream.device_type,
        status=stream.status,  # type: ignore[arg-type]  # DB holds only StreamStatus values
        last_seen=stream.last_seen_at,
        metadata=stream.stream_metadata or {},
        face_detection_enabled=stream.face_detection_enabled,
        owner_id=stream.owner_id,
        viewers=counts.viewers,
        ml_consumers=counts.ml_consumers,
        created_at=stream.created_at,
        updated_at=stream.updated_at,
    )
