"""Cameras: CRUD and the status the workers report."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from beholder.db.models import Camera
from beholder.errors import Conflict, NotFound
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


async def set_status(
    session: AsyncSession,
    camera_id: str,
    status: str,
    *,
    error_code: str | None = None,
    detail: str | None = None,
    stats: dict[str, Any] | None = None,
) -> Camera | None:
    """Record a reported status; returns the camera or ``None`` if it was deleted."""
    cam = await session.get(Camera, camera_id)
    if cam is None:
        return None
    cam.status = status
    cam.error_code = error_code
    cam.status_detail = detail
    if stats is not None:
        cam.stats = stats
    cam.updated_at = utcnow()
    return cam
