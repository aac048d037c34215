"""What the api writes for the workers' output, shared by the bus consumers
(:mod:`beholder.api.events`) and the alert write-back: refusals (logged and counted in
``beholder_bus_messages_refused_total`` by reason), the fenced status write of distributed
mode, the fencing of alerts, and alert snapshots (files in the snapshot folder).

Reasons added by issue 12: ``stale-epoch`` (an event or alert raised under a lease epoch
older than the camera's stored one: a worker that lost the camera) and ``stale-seq`` (a
status event whose sequence number is not newer than the stored one's in the same epoch: a
redelivery or an out-of-order event).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from pathlib import Path
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from beholder.contracts.bus import FaceDetectionAlert, StreamStatusEvent
from beholder.db.models import Camera
from beholder.db.repositories import cameras as cameras_repo
from beholder.errors import UnsafePath
from beholder.files import write_private_file
from beholder.observability import BUS_REFUSED

log = structlog.get_logger(__name__)


def refuse(subject: str, reason: str, event: str, **fields: Any) -> None:
    """Log a refused bus message (``event``: the log line) and count it by ``reason``."""
    BUS_REFUSED.labels(subject, reason).inc()
    log.warning(event, subject=subject, reason=reason, **fields)


def bad_fields(exc: ValidationError) -> list[str]:
    """Where a payload failed (``["id"]``, ``["faces", "0", "box"]``…), without the values:
    a refused value may be anything (a path, a secret, a terminal escape)."""
    return [".".join(str(p) for p in err["loc"]) or "$" for err in exc.errors()][:10]


async def store_fenced(
    s: AsyncSession,
    subject: str,
    cam: Camera,
    event: StreamStatusEvent,
    stats: dict[str, Any] | None,
) -> bool:
    """The conditional write of a status carrying a lease epoch (distributed mode); False
    (nothing written) for a stale event, counted by reason."""
    assert event.epoch is not None and event.seq is not None
    if await cameras_repo.set_fenced_status(
        s,
        event.camera_id,
        event.status.value,
        epoch=event.epoch,
        seq=event.seq,
        worker_id=event.worker_id,
        error_code=event.error_code,
        detail=event.details,
        stats=stats,
        revive=not event.status.is_running,
    ):
        return True
    # The row as it is now, for the reason only: status events are handled concurrently, so
    # a newer one may have been stored since ``cam`` was read.
    await s.refresh(cam, ["lease_epoch", "status_seq"])
    seen_epoch, seen_seq = cam.lease_epoch, cam.status_seq
    if seen_epoch is not None and event.epoch < seen_epoch:
        reason = "stale-epoch"
    elif seen_epoch == event.epoch and seen_seq is not None and event.seq <= seen_seq:
        reason = "stale-seq"
    else:  # newer, but the camera was stopped meanwhile: a late event, not counted
        return False
    refuse(
        subject,
        reason,
        "stale status dropped",
        camera_id=event.camera_id,
        epoch=event.epoch,
        seq=event.seq,
        stored_epoch=seen_epoch,
        stored_seq=seen_seq,
    )
    return False


async def write_snapshot(directory: Path, alert_id: str, data: bytes) -> str | None:
    """Write an alert's snapshot ``<alert id>.jpg`` into ``directory`` (mode 600); its
    name, or ``None`` when it could not be written (logged)."""
    name = f"{alert_id}.jpg"  # the alert id is a UUID (checked by the model)
    try:
        await asyncio.to_thread(write_private_file, directory, name, data)
    except UnsafePath as exc:  # unreachable with a UUID id; kept as the last line
        log.error("alert snapshot name refused; stored without it", detail=exc.detail)
        return None
    except OSError as exc:
        log.error("alert snapshot not written; stored without it", error=repr(exc))
        return None
    return name


def is_fenced(event: FaceDetectionAlert, cam: Camera) -> bool:
    """True when ``event`` was raised under a lease epoch older than the camera's current
    one (a worker that lost the camera: its alert must not be stored)."""
    return event.epoch is not None and cam.lease_epoch is not None and event.epoch < cam.lease_epoch


def snapshot_bytes(event: FaceDetectionAlert) -> bytes | None:
    """The alert's snapshot as JPEG bytes, or ``None`` (none, not base64, not a JPEG)."""
    if not event.snapshot:
        return None
    try:
        data = base64.b64decode(event.snapshot, validate=True)
    except (binascii.Error, ValueError):
        log.warning("alert snapshot is not base64; stored without it", alert_id=event.id)
        return None
    if not data.startswith(b"\xff\xd8"):
        log.warning("alert snapshot is not a JPEG; stored without it", alert_id=event.id)
        return None
    return data
