"""Who may see and use a mobile stream (DESIGN §10: mobile streams belong to their owner).

The one rule, used wherever streams or things attached to them (alerts with a ``stream_id``)
are read or changed:

* an admin sees and uses every stream;
* a user owns the streams whose ``owner_id`` is its id;
* an API key owns the streams whose ``owner_key_id`` is its id, and acts for the user that
  owns the key (the streams whose ``owner_id`` is the key's ``owner_id``);
* nobody else sees a stream, not even that it exists (callers answer 404, never 403).

Things not attached to a stream (camera alerts) are not restricted by this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from beholder.auth.roles import Principal, Role
from beholder.db.models import Alert, VideoStream


def sees_all_streams(principal: Principal) -> bool:
    """True for admins (API keys are never admins)."""
    return principal.kind == "user" and principal.can(Role.ADMIN)


def owns(principal: Principal, owner_id: str | None, owner_key_id: str | None) -> bool:
    """True when ``principal`` may see and use a stream owned by user ``owner_id`` and/or
    API key ``owner_key_id`` (the rule of this module, for callers without the row, e.g.
    the hub filtering a broadcast about a stream)."""
    if sees_all_streams(principal):
        return True
    if principal.kind == "user":
        return owner_id is not None and owner_id == principal.id
    if owner_key_id is not None and owner_key_id == principal.id:
        return True
    return principal.owner_id is not None and owner_id == principal.owner_id


@dataclass(frozen=True, slots=True)
class StreamOwner:
    """Who owns a stream (user ``owner_id`` and/or API key ``owner_key_id``), for deciding
    without its row who may receive something about it (the hub's broadcasts)."""

    owner_id: str | None
    owner_key_id: str | None

    def admits(self, principal: Principal) -> bool:
        """True when ``principal`` owns the stream (:func:`owns`)."""
        return owns(principal, self.owner_id, self.owner_key_id)


def owns_stream(principal: Principal, stream: VideoStream) -> bool:
    """True when ``principal`` may see and use ``stream`` (the rule of this module)."""
    return owns(principal, stream.owner_id, stream.owner_key_id)


def owned_streams(principal: Principal) -> ColumnElement[bool]:
    """SQL condition on ``video_streams`` rows: the streams ``principal`` owns (the same
    rule as :func:`owns_stream`, for queries)."""
    if sees_all_streams(principal):
        return true()
    if principal.kind == "user":
        return VideoStream.owner_id == principal.id
    conds = [VideoStream.owner_key_id == principal.id]
    if principal.owner_id is not None:
        conds.append(VideoStream.owner_id == principal.owner_id)
    return or_(*conds)


def visible_alerts(principal: Principal) -> ColumnElement[bool]:
    """SQL condition on ``alerts`` rows: camera alerts, and stream alerts of owned streams."""
    if sees_all_streams(principal):
        return true()
    owned = select(VideoStream.id).where(owned_streams(principal))
    return or_(Alert.stream_id.is_(None), Alert.stream_id.in_(owned))


async def may_see_alert(session: AsyncSession, principal: Principal, alert: Alert) -> bool:
    """True when ``principal`` may see (and, with the right role, act on) ``alert``."""
    if alert.stream_id is None or sees_all_streams(principal):
        return True
    stream = await session.get(VideoStream, alert.stream_id)
    return stream is not None and owns_stream(principal, stream)
