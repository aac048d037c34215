"""``/api/cameras``: CRUD, commands to the worker (202 + correlation id), snapshot."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Response

from beholder.api.degradation import require_bus
from beholder.api.deps import MediaViewerDep, OperatorDep, SessionDep, StateDep, ViewerDep
from beholder.api.dispatch import Dispatched
from beholder.api.events import broadcast_camera, broadcast_camera_deleted
from beholder.api.schemas import (
    CameraCreate,
    CameraOut,
    CameraUpdate,
    CommandAccepted,
    FaceDetectionToggle,
    Page,
)
from beholder.api.state import AppState
from beholder.api.views import camera_dict, camera_out, sees_precise_status
from beholder.auth.audit import changed_fields, record
from beholder.auth.roles import Principal
from beholder.camera_networks import AddressRefused
from beholder.config import CameraSettings
from beholder.contracts.audit import AuditAction, AuditTarget
from beholder.contracts.resources import Reachability
from beholder.contracts.subjects import snapshot_subject
from beholder.db.models import Camera
from beholder.db.repositories import cameras as cameras_repo
from beholder.errors import BusError, InvalidInput, StreamUnavailable
from beholder.messages import CameraCommand, CameraSpec, CameraStatus, CommandType

router = APIRouter(prefix="/api/cameras", tags=["cameras"])

_JPEG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}}, "description": "JPEG image"}
}


def camera_spec(cam: Camera) -> CameraSpec:
    """What a worker needs to run ``cam`` (the only place the full URL leaves the DB)."""
    return CameraSpec(
        camera_id=cam.id,
        name=cam.name,
        rtsp_url=cam.rtsp_url,
        face_detection_enabled=cam.face_detection_enabled,
    )


def check_camera_address(url: str, settings: CameraSettings) -> None:
    """Refuse (``InvalidInput``, 400) a URL whose host is an IP literal outside
    ``BEHOLDER_CAMERA_NETWORKS``. Host names pass: the worker resolves and checks them each
    time it connects."""
    try:
        settings.policy.check_literal(url)
    except AddressRefused as exc:
        raise InvalidInput(
            f"The camera address {exc.address} is in a network this server does not connect "
            "to (the local host, link-local, multicast and other special addresses are "
            "refused; an administrator can allow networks with BEHOLDER_CAMERA_NETWORKS).",
            detail=str(exc),
        ) from exc


async def send_command(
    state: AppState,
    cam: Camera,
    command_type: CommandType,
    payload: dict[str, object],
    spec: CameraSpec | None = None,
) -> tuple[CameraCommand, Dispatched]:
    """Send a :class:`CameraCommand` to the worker running ``cam`` (``state.dispatcher``:
    ``camera.commands`` under ``serve``, the desired state in distributed mode); raises
    ``BusError`` (503), and ``ServiceUnavailable`` (503) at once while the bus is
    unreachable."""
    require_bus(state, "Camera commands")
    cmd = CameraCommand(command_type=command_type, camera_id=cam.id, payload=payload)
    sent = await state.dispatcher.send(cmd, spec)
    return cmd, sent


@router.get("", response_model=Page[CameraOut])
async def list_cameras(
    principal: ViewerDep,
    session: SessionDep,
    nvr_id: Annotated[str | None, Query(alias="nvrId", max_length=64)] = None,
    region: Annotated[str | None, Query(max_length=64, description="its NVR's region")] = None,
    reachability: Annotated[Reachability | None, Query()] = None,
) -> Response:
    """Every camera, by name (the status detail as :func:`sees_precise_status` allows);
    filters: ``nvrId``, ``region`` (of the camera's NVR), ``reachability``."""
    if nvr_id is None and region is None and reachability is None:
        rows = await cameras_repo.list_rows(session)
    else:
        flt = cameras_repo.CameraFilter(nvr_id=nvr_id, region=region, reachability=reachability)
        rows = await cameras_repo.list_rows_filtered(session, flt)
    precise = sees_precise_status(principal)
    body = orjson.dumps({"items": [camera_dict(r, precise=precise) for r in rows]})
    return Response(body, media_type="application/json")


@router.post("", response_model=CameraOut, status_code=201)
async def create_camera(
    body: CameraCreate, principal: OperatorDep, session: SessionDep, state: StateDep
) -> CameraOut:
    """Add a camera (not started). 409 CONFLICT when the name is taken; 400 INVALID_INPUT
    when the address is an IP outside ``BEHOLDER_CAMERA_NETWORKS``."""
    check_camera_address(body.rtsp_url, state.settings.camera)
    cam = await cameras_repo.create(session, **body.model_dump())
    record(
        session,
        AuditAction.CAMERA_CREATE,
        principal,
        target_type=AuditTarget.CAMERA,
        target_id=cam.id,
        details={"name": cam.name},  # never the URL: it carries credentials
    )
    await session.commit()
    await broadcast_camera(state, camera_out(cam))
    return camera_out(cam, precise=True)  # operators: the worker's own reason


@router.get("/{camera_id}", response_model=CameraOut)
async def get_camera(camera_id: str, principal: ViewerDep, session: SessionDep) -> CameraOut:
    cam = await cameras_repo.get(session, camera_id)
    return camera_out(cam, precise=sees_precise_status(principal))


@router.patch("/{camera_id}", response_model=CameraOut)
async def update_camera(
    camera_id: str,
    body: CameraUpdate,
    principal: OperatorDep,
    session: SessionDep,
    state: StateDep,
) -> CameraOut:
    """Change fields; a running (or failing: ERROR) camera whose URL changed is restarted
    with the new one (400 INVALID_INPUT for an IP outside ``BEHOLDER_CAMERA_NETWORKS``)."""
    if body.rtsp_url is not None:
        check_camera_address(body.rtsp_url, state.settings.camera)
    cam = await cameras_repo.get(session, camera_id)
    changes = body.model_dump(exclude_unset=True)
    url_changed = "rtsp_url" in changes and changes["rtsp_url"] != cam.rtsp_url
    for key, value in changes.items():
        if value is None and key in ("name", "rtsp_url", "enabled", "face_detection_enabled"):
            continue
        setattr(cam, key, value)
    await cameras_repo.flush_unique(session)
    record(
        session,
        AuditAction.CAMERA_UPDATE,
        principal,
        target_type=AuditTarget.CAMERA,
        target_id=cam.id,
        details=changed_fields(changes),  # names only: a URL value carries credentials
    )
    await session.commit()
    # A camera in ERROR is still being retried by its worker (with the old URL): the new
    # URL is usually the fix, so it restarts too.
    if url_changed and (
        CameraStatus(cam.status).is_running or cam.status == CameraStatus.ERROR.value
    ):
        spec = camera_spec(cam)
        await send_command(state, cam, CommandType.RESTART_STREAM, spec.to_wire(), spec)
    await broadcast_camera(state, camera_out(cam))
    return camera_out(cam, precise=True)  # operators: the worker's own reason


@router.delete("/{camera_id}", status_code=204, response_class=Response)
async def delete_camera(
    camera_id: str, principal: OperatorDep, session: SessionDep, state: StateDep
) -> Response:
    """Stop (if running) and delete a camera and its alerts."""
    cam = await cameras_repo.get(session, camera_id)
    # Deleting must work while the bus is down; a worker drops cameras it no longer knows.
    with contextlib.suppress(BusError):
        await send_command(state, cam, CommandType.STOP_STREAM, {})
    await session.delete(cam)
    record(
        session,
        AuditAction.CAMERA_DELETE,
        principal,
        target_type=AuditTarget.CAMERA,
        target_id=camera_id,
        details={"name": cam.name},
    )
    await session.commit()
    await broadcast_camera_deleted(state, camera_id)
    return Response(status_code=204)


_COMMAND_ACTIONS = {
    CommandType.START_STREAM: AuditAction.CAMERA_START,
    CommandType.STOP_STREAM: AuditAction.CAMERA_STOP,
    CommandType.RESTART_STREAM: AuditAction.CAMERA_RESTART,
}


async def _lifecycle(
    state: AppState,
    session: SessionDep,
    camera_id: str,
    command_type: CommandType,
    principal: Principal,
) -> CommandAccepted:
    """Start, stop or restart ``camera_id``. The camera's new state (enabled, STARTING or
    STOPPING) is committed and broadcast *before* the command goes out: a worker can answer
    faster than this request would commit, and its first status events must find the row
    enabled and must never be overwritten by this request's older STARTING/STOPPING. A
    command that cannot be sent puts the camera back as it was and raises (503)."""
    require_bus(state, "Camera commands")
    cam = await cameras_repo.get(session, camera_id)
    before = (cam.enabled, cam.status, cam.error_code, cam.status_detail)
    spec: CameraSpec | None = None
    if command_type is CommandType.STOP_STREAM:
        payload: dict[str, object] = {}
        new_status = CameraStatus.STOPPING
        cam.enabled = False
    else:
        spec = camera_spec(cam)
        payload = spec.to_wire()
        new_status = CameraStatus.STARTING
        cam.enabled = True
    cmd = CameraCommand(command_type=command_type, camera_id=cam.id, payload=payload)
    cam.status = new_status.value
    cam.error_code = None
    cam.status_detail = None
    await session.commit()
    await broadcast_camera(state, camera_out(cam), correlation_id=cmd.correlation_id)
    try:
        sent = await state.dispatcher.send(cmd, spec)
    except Exception:
        cam.enabled, cam.status, cam.error_code, cam.status_detail = before
        await session.commit()
        await broadcast_camera(state, camera_out(cam), correlation_id=cmd.correlation_id)
        raise
    if command_type is CommandType.STOP_STREAM and sent.held is False:
        # Nobody holds the camera (distributed mode): nobody will report STOPPED but us.
        new_status = CameraStatus.STOPPED
        cam.status = new_status.value
        cam.worker_id = None
    record(
        session,
        _COMMAND_ACTIONS[command_type],
        principal,
        target_type=AuditTarget.CAMERA,
        target_id=cam.id,
        details={"commandCorrelationId": cmd.correlation_id},
    )
    await session.commit()
    if new_status is CameraStatus.STOPPED:
        await broadcast_camera(state, camera_out(cam), correlation_id=cmd.correlation_id)
    return CommandAccepted(camera_id=cam.id, status=new_status, correlation_id=cmd.correlation_id)


@router.post("/{camera_id}/start", response_model=CommandAccepted, status_code=202)
async def start_camera(
    camera_id: str, principal: OperatorDep, session: SessionDep, state: StateDep
) -> CommandAccepted:
    """Ask a worker to start the camera; status updates follow on the hub."""
    return await _lifecycle(state, session, camera_id, CommandType.START_STREAM, principal)


@router.post("/{camera_id}/stop", response_model=CommandAccepted, status_code=202)
async def stop_camera(
    camera_id: str, principal: OperatorDep, session: SessionDep, state: StateDep
) -> CommandAccepted:
    """Ask the worker holding the camera to stop it."""
    return await _lifecycle(state, session, camera_id, CommandType.STOP_STREAM, principal)


@router.post("/{camera_id}/restart", response_model=CommandAccepted, status_code=202)
async def restart_camera(
    camera_id: str, principal: OperatorDep, session: SessionDep, state: StateDep
) -> CommandAccepted:
    """Reconnect the camera's stream."""
    return await _lifecycle(state, session, camera_id, CommandType.RESTART_STREAM, principal)


@router.post("/{camera_id}/face-detection", response_model=CommandAccepted, status_code=202)
async def toggle_face_detection(
    camera_id: str,
    body: FaceDetectionToggle,
    principal: OperatorDep,
    session: SessionDep,
    state: StateDep,
) -> CommandAccepted:
    """Turn face detection on or off (persisted; a running session applies it at once)."""
    cam = await cameras_repo.get(session, camera_id)
    cam.face_detection_enabled = body.enabled
    cmd, _ = await send_command(
        state, cam, CommandType.TOGGLE_FACE_DETECTION, {"enabled": body.enabled}
    )
    record(
        session,
        AuditAction.CAMERA_FACE_DETECTION,
        principal,
        target_type=AuditTarget.CAMERA,
        target_id=cam.id,
        details={"enabled": body.enabled},
    )
    await session.commit()
    await broadcast_camera(state, camera_out(cam), correlation_id=cmd.correlation_id)
    return CommandAccepted(
        camera_id=cam.id, status=CameraStatus(cam.status), correlation_id=cmd.correlation_id
    )


@router.get("/{camera_id}/snapshot.jpg", response_class=Response, responses=_JPEG)
async def camera_snapshot(
    camera_id: str, _: MediaViewerDep, session: SessionDep, state: StateDep
) -> Response:
    """The latest decoded frame of a running camera; 503 STREAM_UNAVAILABLE otherwise."""
    cam = await cameras_repo.get(session, camera_id)
    if not CameraStatus(cam.status).is_running:
        raise StreamUnavailable("The camera is not running.", detail=f"status {cam.status}")
    try:
        data = await state.bus.request(snapshot_subject(camera_id), b"", timeout=3.0)
    except BusError as exc:
        raise StreamUnavailable("The camera has no picture yet.", detail=exc.detail) from exc
    if not data.startswith(b"\xff\xd8"):
        raise StreamUnavailable("The camera has no picture yet.", detail="empty snapshot reply")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
