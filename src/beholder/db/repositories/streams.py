"""Mobile video streams (``video_streams``): each belongs to a user (``owner_id``) or to an
API key (``owner_key_id``); who may see one is decided by ``auth.ownership``."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from beholder.db.models import VideoStream
from beholder.errors import NotFound


async def create(
    session: AsyncSession,
    device_name: str,
    *,
    owner_id: str | None = None,
    owner_key_id: str | None = None,
    device_type: str | None = None,
) -> VideoStream:
    """A new stream (status ``offline``) owned by a user and/or an API key."""
    stream = VideoStream(
        device_name=device_name,
        device_type=device_type,
        owner_id=owner_id,
        owner_key_id=owner_key_id,
    )
    session.add(stream)
    await session.flush()
    return stream


async def get(session: AsyncSession, stream_id: str) -> VideoStream:
    """The stream; raises ``NotFound``. Callers check ownership before showing it."""
    stream = await session.get(VideoStream, stream_id)
    if stream is None:
        raise NotFound("Stream not found.")
    return stream
