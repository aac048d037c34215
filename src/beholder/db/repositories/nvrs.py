"""NVRs: CRUD, filtered pages with counts per value, status transitions, delete that says
what happens to the cameras (issue 11)."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from beholder.db.models import Camera, Nvr
from beholder.errors import Conflict, InvalidInput, NotFound
from beholder.messages import utcnow


@dataclass(slots=True)
class NvrFilter:
    """Filters of ``GET /api/nvrs``; ``None`` means no filter. ``q``: case-insensitive
    substring of hostname, device name, region or site."""

    status: str | None = None
    region: str | None = None
    q: str | None = None


@dataclass(slots=True)
class CameraTally:
    """Cameras of one NVR by reachability and by lifecycle status."""

    total: int = 0
    online: int = 0
    offline: int = 0
    unknown: int = 0
    by_status: dict[str, int] | None = None

    def wire(self) -> dict[str, Any]:
        """The JSON dict of ``CameraCounts``."""
        return {
            "total": self.total,
            "online": self.online,
            "offline": self.offline,
            "unknown": self.unknown,
            "byStatus": dict(self.by_status or {}),
        }


def _encode(hostname: str) -> str:
    return base64.urlsafe_b64encode(hostname.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        return raw.decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("The page cursor is not valid.", detail=str(exc)) from exc


def _text(q: str) -> ColumnElement[bool]:
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = f"%{escaped}%"
    cols = (Nvr.hostname, Nvr.device_name, Nvr.region, Nvr.site)
    return or_(*(func.lower(c).like(like, escape="\\") for c in cols))


async def flush_unique(session: AsyncSession) -> None:
    """Flush, turning a duplicate hostname into ``Conflict``."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("An NVR with this hostname already exists.", detail=str(exc.orig)) from exc


async def create(session: AsyncSession, hostname: str, **fields: Any) -> Nvr:
    """A new NVR (``offline`` until its agent registers); ``Conflict`` on a taken hostname."""
    if await by_hostname(session, hostname) is not None:
        raise Conflict("An NVR with this hostname already exists.")
    nvr = Nvr(hostname=hostname, **fields)
    session.add(nvr)
    await flush_unique(session)
    return nvr


async def get(session: AsyncSession, nvr_id: str) -> Nvr:
    """The NVR; raises ``NotFound``."""
    nvr = await session.get(Nvr, nvr_id)
    if nvr is None:
        raise NotFound("NVR not found.")
    return nvr


async def find(session: AsyncSession, nvr_id: str) -> Nvr | None:
    """The NVR or ``None``."""
    return await session.get(Nvr, nvr_id)


async def by_hostname(session: AsyncSession, hostname: str) -> Nvr | None:
    """The NVR with this hostname, or ``None``."""
    return (await session.execute(select(Nvr).where(Nvr.hostname == hostname))).scalar_one_or_none()


async def update_fields(session: AsyncSession, nvr: Nvr, changes: dict[str, Any]) -> Nvr:
    """Apply ``changes`` (column name → value); ``Conflict`` on a taken hostname."""
    hostname = changes.get("hostname")
    if hostname is not None and hostname != nvr.hostname:
        other = await by_hostname(session, hostname)
        if other is not None and other.id != nvr.id:
            raise Conflict("An NVR with this hostname already exists.")
    for key, value in changes.items():
        setattr(nvr, key, value)
    nvr.updated_at = utcnow()
    await flush_unique(session)
    return nvr


async def page(
    session: AsyncSession, flt: NvrFilter, limit: int, cursor: str | None
) -> tuple[list[Nvr], str | None]:
    """Up to ``limit`` NVRs by hostname after ``cursor``, and the next page's cursor."""
    conds: list[ColumnElement[bool]] = []
    if flt.q:
        conds.append(_text(flt.q))
    if flt.status is not None:
        conds.append(Nvr.status == flt.status)
    if flt.region is not None:
        conds.append(Nvr.region == flt.region)
    if cursor:
        conds.append(Nvr.hostname > _decode(cursor))
    q = select(Nvr).order_by(Nvr.hostname).limit(limit + 1)
    if conds:
        q = q.where(and_(*conds))
    rows = list((await session.execute(q)).scalars())
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, _encode(rows[-1].hostname)
    return rows, None


async def counts(session: AsyncSession, q: str | None) -> dict[str, dict[str, int]]:
    """``{"status": {online: n, offline: n}, "region": {name: n}}`` over the NVRs matching
    the text filter ``q`` (status and region filters left out: the chips' numbers)."""
    where = _text(q) if q else None
    out: dict[str, dict[str, int]] = {"status": {"online": 0, "offline": 0}, "region": {}}
    for key, col in (("status", Nvr.status), ("region", Nvr.region)):
        stmt = select(col, func.count()).group_by(col)
        if where is not None:
            stmt = stmt.where(where)
        for value, n in (await session.execute(stmt)).all():
            if value is not None:
                out[key][value] = n
    return out


async def camera_tallies(session: AsyncSession, nvr_ids: list[str]) -> dict[str, CameraTally]:
    """Each NVR's cameras by reachability and status (an NVR without cameras: zeros)."""
    tallies = {i: CameraTally(by_status={}) for i in nvr_ids}
    if not nvr_ids:
        return tallies
    for col in (Camera.reachability, Camera.status):
        stmt = (
            select(Camera.nvr_id, col, func.count())
            .where(Camera.nvr_id.in_(nvr_ids))
            .group_by(Camera.nvr_id, col)
        )
        for nvr_id, value, n in (await session.execute(stmt)).all():
            t = tallies[str(nvr_id)]
            if col is Camera.status:
                assert t.by_status is not None
                t.by_status[value] = n
                t.total += n
            elif value in ("online", "offline", "unknown"):
                setattr(t, value, getattr(t, value) + n)
    return tallies


def tally_of(cameras: Iterable[Camera]) -> CameraTally:
    """The :class:`CameraTally` of rows already loaded (all the cameras of one NVR, e.g. in
    the transaction that just changed them): what :func:`camera_tallies` would count,
    without another query."""
    t = CameraTally(by_status={})
    assert t.by_status is not None
    for cam in cameras:
        t.total += 1
        t.by_status[cam.status] = t.by_status.get(cam.status, 0) + 1
        if cam.reachability in ("online", "offline", "unknown"):
            setattr(t, cam.reachability, getattr(t, cam.reachability) + 1)
    return t


async def set_status(
    session: AsyncSession, nvr_id: str, status: Literal["online", "offline"], at: datetime
) -> bool:
    """Move the NVR to ``status`` if it is not there already (one conditional ``UPDATE``,
    so that of two racing callers one sees the transition). ``lastSeen`` becomes ``at``
    when going online. True when the status changed."""
    values: dict[str, Any] = {"status": status, "updated_at": at}
    if status == "online":
        values["last_seen_at"] = at
    result = await session.execute(
        update(Nvr).where(Nvr.id == nvr_id, Nvr.status != status).values(**values)
    )
    return bool(getattr(result, "rowcount", 0))


async def touch_online(session: AsyncSession, nvr_id: str, at: datetime) -> bool:
    """Record that the agent of an ``online`` NVR was heard from at ``at`` (one
    ``UPDATE``); False when the NVR is not online (the caller brings it back)."""
    result = await session.execute(
        update(Nvr).where(Nvr.id == nvr_id, Nvr.status == "online").values(last_seen_at=at)
    )
    return bool(getattr(result, "rowcount", 0))


async def silent_ids(session: AsyncSession, cutoff: datetime) -> list[str]:
    """Ids of ``online`` NVRs not heard from since ``cutoff``."""
    q = select(Nvr.id).where(
        Nvr.status == "online", or_(Nvr.last_seen_at.is_(None), Nvr.last_seen_at < cutoff)
    )
    return list((await session.execute(q)).scalars())


async def online_ids(session: AsyncSession) -> list[str]:
    """Ids of the NVRs the database holds online."""
    return list((await session.execute(select(Nvr.id).where(Nvr.status == "online"))).scalars())


async def delete_nvr(
    session: AsyncSession, nvr: Nvr, cameras: Literal["detach", "delete"]
) -> list[str]:
    """Delete ``nvr``; its cameras are detached (no NVR, no channel, reachability
    ``unknown``) or deleted. Returns the ids of those cameras (the caller stops deleted
    ones and tells dashboards). Its ``nvr`` keys and system alerts go with it."""
    ids = list((await session.execute(select(Camera.id).where(Camera.nvr_id == nvr.id))).scalars())
    if cameras == "delete":
        await session.execute(delete(Camera).where(Camera.nvr_id == nvr.id))
    else:
        await session.execute(
            update(Camera)
            .where(Camera.nvr_id == nvr.id)
            .values(
                nvr_id=None,
                nvr_channel=None,
                reachability="unknown",
                reachability_detail=None,
                updated_at=utcnow(),
            )
        )
    await session.execute(delete(Nvr).where(Nvr.id == nvr.id))
    session.expunge(nvr)
    return ids
