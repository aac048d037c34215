"""Mobile video streams (``video_streams``): each belongs to a user (``owner_id``) or to an
API key (``owner_key_id``); who may see one is decided by ``auth.ownership`` (callers pass
its SQL condition as ``visible``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from beholder.db.models import VideoStream
from beholder.db.repositories.alerts import decode_cursor, encode_cursor
from beholder.errors import NotFound
from beholder.messages import utcnow

STATUSES = ("offline", "online", "streaming")


async def create(
    session: AsyncSession,
    device_name: str,
    *,
    owner_id: str | None = None,
    owner_key_id: str | None = None,
    device_type: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> VideoStream:
    """A new stream (status ``offline``, face detection off) owned by a user and/or an API
    key; ``metadata`` as validated by the caller (``StreamMetadata``)."""
    now = utcnow()
    stream = VideoStream(
        device_name=device_name,
        device_type=device_type,
        owner_id=owner_id,
        owner_key_id=owner_key_id,
        stream_metadata=metadata or {},
        status="offline",
        face_detection_enabled=False,
        created_at=now,
        updated_at=now,
    )
    session.add(stream)
    await session.flush()
    return stream


async def find(session: AsyncSession, stream_id: str) -> VideoStream | None:
    """The stream, or ``None``."""
    return await session.get(VideoStream, stream_id)


async def get(session: AsyncSession, stream_id: str) -> VideoStream:
    """The stream; raises ``NotFound``. Callers check ownership before showing it."""
    stream = await session.get(VideoStream, stream_id)
    if stream is None:
        raise NotFound("Stream not found.")
    return stream


async def list_owned(
    session: AsyncSession,
    visible: ColumnElement[bool] | None,
    *,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[VideoStream], str | None]:
    """Up to ``limit`` streams newest first (``created_at``, then id) among those matching
    ``visible`` (``auth.ownership.owned_streams``; ``None``: all) and ``status``, and the
    opaque cursor of the next page (``None`` on the last). A bad cursor: ``InvalidInput``."""
    conds: list[ColumnElement[bool]] = []
    if visible is not None:
        conds.append(visible)
    if status is not None:
        conds.append(VideoStream.status == status)
    if cursor:
        c_at, c_id = decode_cursor(cursor)
        conds.append(
            or_(
                VideoStream.created_at < c_at,
                and_(VideoStream.created_at == c_at, VideoStream.id < c_id),
            )
        )
    q = select(VideoStream)
    if conds:
        q = q.where(and_(*conds))
    q = q.order_by(VideoStream.created_at.desc(), VideoStream.id.desc()).limit(limit + 1)
    rows = list((await session.execute(q)).scalars())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id)
    return rows, next_cursor


async def detecting(session: AsyncSession) -> list[VideoStream]:
    """Every stream with the built-in face detector switched on."""
    q = select(VideoStream).where(VideoStream.face_detection_enabled.is_(True))
    return list((await session.execute(q)).scalars())


async def count_owned(session: AsyncSession, visible: ColumnElement[bool]) -> int:
    """How many streams match ``visible`` (the per-principal registration limit)."""
    q = select(func.count()).select_from(VideoStream).where(visible)
    return int((await session.execute(q)).scalar_one())


async def update(
    session: AsyncSession,
    stream_id: str,
    *,
    device_name: str | None = None,
    face_detection_enabled: bool | None = None,
) -> VideoStream:
    """Change the given fields (``None``: unchanged) and ``updated_at``; ``NotFound``."""
    stream = await get(session, stream_id)
    if device_name is not None:
        stream.device_name = device_name
    if face_detection_enabled is not None:
        stream.face_detection_enabled = face_detection_enabled
    stream.updated_at = utcnow()
    await session.flush()
    return stream


async def remove(session: AsyncSession, stream_id: str) -> bool:
    """Delete the stream (its alerts go with it: ``ON DELETE CASCADE``, enforced on SQLite
    too). True when it existed."""
    result = await session.execute(delete(VideoStream).where(VideoStream.id == stream_id))
    return bool(getattr(result, "rowcount", 0))


async def set_status(
    session: AsyncSession, stream_id: str, status: str, at: datetime | None = None
) -> VideoStream | None:
    """Persist ``status`` (``offline``/``online``/``streaming``) and ``last_seen`` = ``at``
    (default now, UTC). ``None`` when the stream no longer exists (deleted meanwhile)."""
    if status not in STATUSES:
        raise ValueError(f"unknown stream status {status!r}")
    stream = await session.get(VideoStream, stream_id)
    if stream is None:
        return None
    stream.status = status
    stream.last_seen_at = at or utcnow()
    await session.flush()
    return stream
