"""Start-up reconciliation: no camera may claim to run without a session (DESIGN §4).

``serve`` (commands on the bus): cameras the DB marks as running are restarted on a worker;
when no worker answers a ping on the bus they are marked ERROR / SERVICE_UNAVAILABLE instead.

Distributed mode (:class:`~beholder.api.dispatch.DesiredStateDispatcher`): the desired state
in JetStream KV is made to match the DB, idempotently, so several api instances starting
together may all run it:

* the desired state is read first (a snapshot), then the DB, and every write is revision
  checked against that snapshot, so a START or STOP made through another instance meanwhile
  always wins;
* a camera the DB says should run (enabled, and running or in ERROR) gets its desired state
  (created if absent; updated when its spec differs, the restart token kept); one that should
  not (or no longer exists) has its desired state deleted;
* when no worker is registered (nor answers ``worker.ping``) the cameras that should run are
  marked ERROR / SERVICE_UNAVAILABLE but KEEP their desired state: the first worker to come
  up starts them. With workers up, a camera nobody holds yet is shown STARTING; a held one is
  left as its holder reports it.
"""

from __future__ import annotations

import structlog

from beholder.api.dispatch import DesiredStateDispatcher
from beholder.api.events import broadcast_camera
from beholder.api.routers.cameras import camera_spec
from beholder.api.state import AppState
from beholder.api.views import camera_out
from beholder.db.models import Camera
from beholder.db.repositories import cameras as cameras_repo
from beholder.errors import BusError, ErrorCode
from beholder.messages import CameraCommand, CameraStatus, CommandType, Subjects

log = structlog.get_logger(__name__)

_NO_WORKER = "No camera worker is running. Start a worker to resume."


async def any_worker(state: AppState, timeout: float) -> bool:
    """True when at least one worker answers ``worker.ping`` within ``timeout`` seconds."""
    try:
        await state.bus.request(Subjects.WORKER_PING, b"{}", timeout=timeout)
    except BusError:
        return False
    return True


def _mark_no_worker(cam: Camera) -> bool:
    """ERROR / SERVICE_UNAVAILABLE; whether that changed anything."""
    if cam.status == CameraStatus.ERROR and cam.error_code == ErrorCode.SERVICE_UNAVAILABLE:
        return False
    cam.status = CameraStatus.ERROR.value
    cam.error_code = ErrorCode.SERVICE_UNAVAILABLE.value
    cam.status_detail = _NO_WORKER
    return True


def _mark_starting(cam: Camera) -> bool:
    if cam.status == CameraStatus.STARTING and cam.error_code is None:
        return False
    cam.status = CameraStatus.STARTING.value
    cam.error_code = None
    cam.status_detail = None
    return True


async def reconcile_cameras(state: AppState, timeout: float = 3.0) -> dict[str, int]:
    """Restart running cameras or mark them ERROR. Returns counts {restarted, failed} (and
    {created, updated, removed} in distributed mode)."""
    if isinstance(state.dispatcher, DesiredStateDispatcher):
        return await reconcile_desired_state(state, state.dispatcher, timeout)
    async with state.db.session() as s:
        cams = await cameras_repo.running(s)
        if not cams:
            return {"restarted": 0, "failed": 0}
        worker_up = await any_worker(state, timeout)
        for cam in cams:
            if worker_up:
                spec = camera_spec(cam)
                cmd = CameraCommand(
                    command_type=CommandType.START_STREAM,
                    camera_id=cam.id,
                    payload=spec.to_wire(),
                )
                await state.dispatcher.send(cmd, spec)
                _mark_starting(cam)
            else:
                _mark_no_worker(cam)
        await s.commit()
        outs = [camera_out(c) for c in cams]
    for out in outs:
        await broadcast_camera(state, out)
    counts = {"restarted": len(outs) if worker_up else 0, "failed": 0 if worker_up else len(outs)}
    log.info("cameras reconciled", **counts)
    return counts


async def reconcile_desired_state(
    state: AppState, desired: DesiredStateDispatcher, timeout: float
) -> dict[str, int]:
    """Distributed mode (see the module doc); raises ``BusError`` when NATS fails."""
    counts = {"restarted": 0, "failed": 0, "created": 0, "updated": 0, "removed": 0}
    snapshot = await desired.desired()  # before the DB: see the module doc
    workers_up = await desired.workers() > 0 or await any_worker(state, timeout)
    held = await desired.held() if workers_up else set()
    async with state.db.session() as s:
        cams = await cameras_repo.should_run(s)
        wanted = {c.id for c in cams}
        for camera_id, entry in snapshot.items():
            if camera_id not in wanted and await desired.discard(camera_id, entry):
                counts["removed"] += 1
        changed: list[Camera] = []
        for cam in cams:
            done = await desired.ensure(camera_spec(cam), snapshot.get(cam.id))
            if done in ("created", "updated"):
                counts[done] += 1
            if not workers_up:
                counts["failed"] += 1
                if _mark_no_worker(cam):
                    changed.append(cam)
            elif cam.id not in held:
                counts["restarted"] += 1
                if _mark_starting(cam):
                    changed.append(cam)
        await s.commit()
        outs = [camera_out(c) for c in changed]
    for out in outs:
        await broadcast_camera(state, out)
    log.info("cameras reconciled", mode="desired-state", workers=workers_up, **counts)
    return counts
