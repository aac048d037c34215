"""Cameras: CRUD and the status the workers report."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from beholder.db.models import Camera, Nvr
from beholder.errors import Conflict, InvalidInput, NotFound
from beholder.messages import CameraStatus, utcnow


async def list_all(session: AsyncSession) -> list[Camera]:
    """Every camera, by name."""
    return list((await session.execute(select(Camera).order_by(Camera.name))).scalars())


async def list_rows(session: AsyncSession) -> list[Any]:
    """Every camera as plain Core rows (no ORM identity map), by name: for read-only lists."""
    table = Camera.__table__
    result = await session.execute(select(table).order_by(table.c.name))
    return list(result.all())


async def get(session: AsyncSession, camera_id: str) -> Camera:
    """The camera; raises ``NotFound``."""
    cam = await session.get(Camera, camera_id)
    if cam is None:
        raise NotFound("Camera not found.")
    return cam


async def find(session: AsyncSession, camera_id: str) -> Camera | None:
    """The camera or ``None``."""
    return await session.get(Camera, camera_id)


async def flush_unique(session: AsyncSession) -> None:
    """Flush, turning a duplicate camera name into ``Conflict``."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("A camera with this name already exists.", detail=str(exc.orig)) from exc


async def create(session: AsyncSession, **fields: Any) -> Camera:
    """A new camera; raises ``Conflict`` on a duplicate name."""
    cam = Camera(**fields)
    session.add(cam)
    await flush_unique(session)
    return cam


async def running(session: AsyncSession) -> list[Camera]:
    """Cameras the DB believes a worker is holding."""
    states = [s.value for s in CameraStatus if s.is_running]
    return list((await session.execute(select(Camera).where(Camera.status.in_(states)))).scalars())


async def should_run(session: AsyncSession) -> list[Camera]:
    """Cameras a worker should hold in distributed mode: enabled and running, or in
    ``ERROR`` (a failing stream keeps retrying; no worker up keeps the desired state)."""
    states = [s.value for s in CameraStatus if s.is_running] + [CameraStatus.ERROR.value]
    q = select(Camera).where(Camera.enabled.is_(True), Camera.status.in_(states))
    return list((await session.execute(q)).scalars())


def _holder(status: str, worker_id: str | None) -> str | None:
    """Who holds a camera after a status: nobody once it stopped."""
    return None if status in (CameraStatus.STOPPED, CameraStatus.OFFLINE) else worker_id


async def set_status(
    session: AsyncSession,
    camera_id: str,
    status: str,
    *,
    error_code: str | None = None,
    detail: str | None = None,
    stats: dict[str, Any] | None = None,
    worker_id: str | None = None,
) -> Camera | None:
    """Record a reported status (an event without a lease epoch: ``serve``);
    returns the camera or ``None`` if it was deleted."""
    cam = await session.get(Camera, camera_id)
    if cam is None:
        return None
    cam.status = status
    cam.error_code = error_code
    cam.status_detail = detail
    if stats is not None:
        cam.stats = stats
    if worker_id is not None or status in (CameraStatus.STOPPED, CameraStatus.OFFLINE):
        cam.worker_id = _holder(status, worker_id)
    cam.updated_at = utcnow()
    return cam


async def set_fenced_status(
    session: AsyncSession,
    camera_id: str,
    status: str,
    *,
    epoch: int,
    seq: int,
    worker_id: str | None,
    error_code: str | None = None,
    detail: str | None = None,
    stats: dict[str, Any] | None = None,
    revive: bool = True,
) -> bool:
    """Record a status reported under lease ``epoch`` as event ``seq`` of that epoch, in
    one conditional ``UPDATE``: only when ``(epoch, seq)`` is newer than the stored
    ``(lease_epoch, status_seq)`` (a redelivered event, an older one, or one of an older
    owner never overwrites a newer state). ``revive=False`` (a running status): not over a
    camera that was stopped and disabled. True when the row was written."""
    table = cast(Table, Camera.__table__)
    c = table.c
    newer = or_(
        c.lease_epoch.is_(None),
        c.lease_epoch < epoch,
        and_(c.lease_epoch == epoch, or_(c.status_seq.is_(None), c.status_seq < seq)),
    )
    cond = and_(c.id == camera_id, newer)
    if not revive:
        cond = and_(cond, or_(c.status != CameraStatus.STOPPED.value, c.enabled.is_(True)))
    values: dict[str, Any] = {
        "status": status,
        "error_code": error_code,
        "status_detail": detail,
        "worker_id": _holder(status, worker_id),
        "lease_epoch": epoch,
        "status_seq": seq,
        "updated_at": utcnow(),
    }
    if stats is not None:
        values["stats"] = stats
    result = await session.execute(update(table).where(cond).values(**values))
    return bool(getattr(result, "rowcount", 0))


# -- NVR channels and reachability (issue 11) ------------------------------------------------


@dataclass(slots=True)
class CameraFilter:
    """Filters of ``GET /api/cameras``; ``None`` means no filter."""

    nvr_id: str | None = None
    region: str | None = None
    reachability: str | None = None


async def list_rows_filtered(session: AsyncSession, flt: CameraFilter) -> list[Any]:
    """Cameras matching ``flt`` as Core rows, by name (``region``: of the camera's NVR)."""
    table = Camera.__table__
    q = select(table).order_by(table.c.name)
    if flt.nvr_id is not None:
        q = q.where(table.c.nvr_id == flt.nvr_id)
    if flt.reachability is not None:
        q = q.where(table.c.reachability == flt.reachability)
    if flt.region is not None:
        q = q.where(
            table.c.nvr_id.in_(select(Nvr.id).where(Nvr.region == flt.region).scalar_subquery())
        )
    return list((await session.execute(q)).all())


def _channel_cursor(channel: int | None, name: str) -> str:
    raw = json.dumps([channel, name]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _channel_position(cursor: str) -> tuple[int, str]:
    try:
        channel, name = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return (int(channel) if channel is not None else _NO_CHANNEL), str(name)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("The page cursor is not valid.", detail=str(exc)) from exc


_NO_CHANNEL = 1_000_000
"""Sort key of a camera without a channel (after every channel, 1..9999)."""


async def nvr_page(
    session: AsyncSession, nvr_id: str, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """An NVR's cameras as Core rows, by channel number (cameras without one last) then
    name, ``limit`` at a time, and the cursor of the next page (or ``None``)."""
    table = Camera.__table__
    key = func.coalesce(table.c.nvr_channel, _NO_CHANNEL)
    q = select(table).where(table.c.nvr_id == nvr_id)
    if cursor:
        c_key, c_name = _channel_position(cursor)
        q = q.where(or_(key > c_key, and_(key == c_key, table.c.name > c_name)))
    q = q.order_by(key, table.c.name).limit(limit + 1)
    rows = list((await session.execute(q)).all())
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, _channel_cursor(rows[-1].nvr_channel, rows[-1].name)
    return rows, None


async def _free_name(session: AsyncSession, wanted: str, hostname: str, own_id: str | None) -> str:
    """``wanted`` if no other camera has it, else ``"<wanted> (<hostname>)"``, else that with
    a number: importing a channel never fails on a name someone already took."""
    candidates = [wanted, f"{wanted} ({hostname})"]
    candidates += [f"{wanted} ({hostname}) {i}" for i in range(2, 50)]
    for name in candidates:
        name = name[:128]
        taken = (
            await session.execute(select(Camera.id).where(Camera.name == name))
        ).scalar_one_or_none()
        if taken is None or taken == own_id:
            return name
    raise Conflict("A camera with this name already exists.")


async def upsert_channel(
    session: AsyncSession,
    nvr_id: str,
    hostname: str,
    channel: int,
    name: str,
    url: str,
    *,
    explicit_name: bool,
) -> tuple[Camera, bool, bool]:
    """Create or update the camera of ``channel`` of NVR ``nvr_id`` (idempotent by NVR and
    channel). A new camera is enabled, face detection on, ``OFFLINE`` (ready to start),
    reachability ``unknown``. An existing one gets the new ``url``, and ``name`` only when
    the agent gave one (``explicit_name``): an operator's rename of an unnamed channel
    stays. Returns ``(camera, created, changed)``."""
    cam = (
        await session.execute(
            select(Camera).where(Camera.nvr_id == nvr_id, Camera.nvr_channel == channel)
        )
    ).scalar_one_or_none()
    if cam is None:
        cam = Camera(
            name=await _free_name(session, name, hostname, None),
            rtsp_url=url,
            nvr_id=nvr_id,
            nvr_channel=channel,
            enabled=True,
            face_detection_enabled=True,
        )
        session.add(cam)
        await flush_unique(session)
        return cam, True, True
    changed = False
    if cam.rtsp_url != url:
        cam.rtsp_url = url
        changed = True
    if explicit_name and cam.name != name:
        new_name = await _free_name(session, name, hostname, cam.id)
        if new_name != cam.name:
            cam.name = new_name
            changed = True
    if changed:
        cam.updated_at = utcnow()
        await flush_unique(session)
    return cam, False, changed


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One channel as an agent registers it (see :func:`sync_channels`)."""

    number: int
    name: str
    url: str
    explicit_name: bool


async def sync_channels(
    session: AsyncSession, nvr_id: str, hostname: str, channels: list[ChannelSpec]
) -> list[tuple[Camera, bool, bool]]:
    """:func:`upsert_channel` for every channel of a registration with one read of the NVR's
    cameras: an unchanged channel costs no query and writes nothing. Returns
    ``(camera, created, changed)`` per channel, in order."""
    existing = {c.nvr_channel: c for c in await of_nvr(session, nvr_id)}
    out: list[tuple[Camera, bool, bool]] = []
    for ch in channels:
        cam = existing.get(ch.number)
        if cam is None or cam.rtsp_url != ch.url or (ch.explicit_name and cam.name != ch.name):
            out.append(
                await upsert_channel(
                    session,
                    nvr_id,
                    hostname,
                    ch.number,
                    ch.name,
                    ch.url,
                    explicit_name=ch.explicit_name,
                )
            )
        else:
            out.append((cam, False, False))
    return out


async def of_nvr(session: AsyncSession, nvr_id: str) -> list[Camera]:
    """Every camera of the NVR, by channel."""
    q = select(Camera).where(Camera.nvr_id == nvr_id).order_by(Camera.nvr_channel, Camera.name)
    return list((await session.execute(q)).scalars())


async def set_reachability_for_nvr(
    session: AsyncSession,
    nvr_id: str,
    reachability: str,
    detail: str | None,
    *,
    only_detail: str | None = None,
) -> list[Camera]:
    """Set the reachability (and its detail) of every camera of the NVR that is not in it
    already (with ``only_detail``: only those whose current detail is that, e.g. to undo
    the cascade's ``"NVR offline"`` and nothing else). Returns the cameras that changed."""
    q = select(Camera).where(Camera.nvr_id == nvr_id, Camera.reachability != reachability)
    if only_detail is not None:
        q = q.where(Camera.reachability_detail == only_detail)
    return mark_reachability(list((await session.execute(q)).scalars()), reachability, detail)


def mark_reachability(
    cams: list[Camera],
    reachability: str,
    detail: str | None,
    *,
    only_detail: str | None = None,
) -> list[Camera]:
    """:func:`set_reachability_for_nvr` on rows already loaded (e.g. all the NVR's cameras,
    read once per transaction): the ones not in ``reachability`` already (with
    ``only_detail``: and whose detail is that) get it; returns those."""
    now = utcnow()
    changed = []
    for cam in cams:
        if cam.reachability == reachability:
            continue
        if only_detail is not None and cam.reachability_detail != only_detail:
            continue
        cam.reachability = reachability
        cam.reachability_detail = detail
        cam.updated_at = now
        changed.append(cam)
    return changed


def record_probe(cam: Camera, reachability: str, detail: str | None, probe: dict[str, Any]) -> bool:
    """Store a probe of ``cam`` (``probe``: the JSON of ``CameraProbe``) and its
    reachability; True when the reachability or its detail changed."""
    cam.probe = probe
    if cam.reachability == reachability and cam.reachability_detail == detail:
        return False
    cam.reachability = reachability
    cam.reachability_detail = detail
    cam.updated_at = utcnow()
    return True


async def apply_probe(
    session: AsyncSession,
    nvr_id: str,
    channel: int,
    reachability: str,
    detail: str | None,
    probe: dict[str, Any],
) -> tuple[Camera | None, str | None]:
    """Record a probe of ``channel`` of NVR ``nvr_id`` (see :func:`record_probe`). Returns
    ``(camera, previous reachability)``; ``(None, None)`` for a channel with no camera."""
    cam = (
        await session.execute(
            select(Camera).where(Camera.nvr_id == nvr_id, Camera.nvr_channel == channel)
        )
    ).scalar_one_or_none()
    if cam is None:
        return None, None
    previous = cam.reachability
    record_probe(cam, reachability, detail, probe)
    return cam, previous
