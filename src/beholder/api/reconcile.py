"""Start-up reconciliation: no camera may claim to run without a session (DESIGN §4).

Cameras the DB marks as running (or enabled) are restarted on a worker; when no worker
answers a ping on the bus they are marked ERROR / SERVICE_UNAVAILABLE instead.
"""

from __future__ import annotations

import structlog

from beholder.api.events import broadcast_camera
from beholder.api.routers.cameras import camera_spec
from beholder.api.state import AppState
from beholder.api.views import camera_out
from beholder.db.repositories import cameras as cameras_repo
from beholder.errors import BusError, ErrorCode
from beholder.messages import CameraCommand, CameraStatus, CommandType, Subjects

log = structlog.get_logger(__name__)


async def any_worker(state: AppState, timeout: float) -> bool:
    """True when at least one worker answers ``worker.ping`` within ``timeout`` seconds."""
    try:
        await state.bus.request(Subjects.WORKER_PING, b"{}", timeout=timeout)
    except BusError:
        return False
    return True


async def reconcile_cameras(state: AppState, timeout: float = 3.0) -> dict[str, int]:
    """Restart running cameras or mark them ERROR. Returns counts {restarted, failed}."""
    async with state.db.session() as s:
        cams = await cameras_repo.running(s)
        if not cams:
            return {"restarted": 0, "failed": 0}
        worker_up = await any_worker(state, timeout)
        for cam in cams:
            if worker_up:
                cmd = CameraCommand(
                    command_type=CommandType.START_STREAM,
                    camera_id=cam.id,
                    payload=camera_spec(cam).to_wire(),
                )
                await state.bus.publish(Subjects.CAMERA_COMMANDS, cmd.to_bytes())
                cam.status = CameraStatus.STARTING.value
                cam.error_code = None
                cam.status_detail = None
            else:
                cam.status = CameraStatus.ERROR.value
                cam.error_code = ErrorCode.SERVICE_UNAVAILABLE.value
                cam.status_detail = "No camera worker is running. Start a worker to resume."
        await s.commit()
        outs = [camera_out(c) for c in cams]
    for out in outs:
        await broadcast_camera(state, out)
    counts = {"restarted": len(outs) if worker_up else 0, "failed": 0 if worker_up else len(outs)}
    log.info("cameras reconciled", **counts)
    return counts
