"""The fleet summary of the operations view (issue 11): NVRs and cameras by state and
region, alerts per hour over 24 h. A handful of ``GROUP BY`` queries, whatever the fleet size.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from beholder.contracts.nvr import AlertHour, CameraCounts, NvrCounts, RegionStats, SummaryStats
from beholder.db.models import Alert, Camera, Nvr
from beholder.messages import utcnow

HOURS = 24


def _hour_key(session: AsyncSession) -> ColumnElement[Any]:
    """``created_at`` truncated to its UTC hour as ``YYYY-MM-DDTHH``, on either backend."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", Alert.created_at), 'YYYY-MM-DD"T"HH24')
    return func.strftime("%Y-%m-%dT%H", Alert.created_at)  # stored as naive UTC


async def summary(session: AsyncSession, now: datetime | None = None) -> SummaryStats:
    """The figures of ``GET /api/stats/summary`` at ``now`` (default: now, UTC)."""
    now = now or utcnow()
    nvr_status: dict[str, int] = {}
    for status, n in (
        await session.execute(select(Nvr.status, func.count()).group_by(Nvr.status))
    ).all():
        nvr_status[status] = n
    cams = CameraCounts()
    for col in (Camera.reachability, Camera.status):
        rows = (await session.execute(select(col, func.count()).group_by(col))).all()
        for value, n in rows:
            if col is Camera.status:
                cams.by_status[value] = n
                cams.total += n
            elif value in ("online", "offline", "unknown"):
                setattr(cams, value, getattr(cams, value) + n)

    regions: dict[str, RegionStats] = {}

    def region(name: str) -> RegionStats:
        if name not in regions:
            regions[name] = RegionStats(
                region=name, nvrs=0, nvrs_online=0, cameras=0, cameras_online=0
            )
        return regions[name]

    stmt = select(Nvr.region, Nvr.status, func.count()).where(Nvr.region.is_not(None))
    for name, status, n in (await session.execute(stmt.group_by(Nvr.region, Nvr.status))).all():
        r = region(str(name))
        r.nvrs += n
        if status == "online":
            r.nvrs_online += n
    stmt = (
        select(Nvr.region, Camera.reachability, func.count())
        .join(Nvr, Camera.nvr_id == Nvr.id)
        .where(Nvr.region.is_not(None))
        .group_by(Nvr.region, Camera.reachability)
    )
    for name, reach, n in (await session.execute(stmt)).all():
        r = region(str(name))
        r.cameras += n
        if reach == "online":
            r.cameras_online += n

    current_hour = now.replace(minute=0, second=0, microsecond=0)
    first_hour = current_hour - timedelta(hours=HOURS - 1)
    key = _hour_key(session)
    by_type: dict[str, dict[str, int]] = defaultdict(dict)
    by_severity: dict[str, dict[str, int]] = defaultdict(dict)
    totals: dict[str, int] = defaultdict(int)
    for col, into in ((Alert.type, by_type), (Alert.severity, by_severity)):
        stmt = (
            select(key, col, func.count()).where(Alert.created_at >= first_hour).group_by(key, col)
        )
        for hour, value, n in (await session.execute(stmt)).all():
            into[str(hour)][value] = n
            if col is Alert.type:
                totals[str(hour)] += n
    hours = []
    for i in range(HOURS):
        start = first_hour + timedelta(hours=i)
        k = start.strftime("%Y-%m-%dT%H")
        hours.append(
            AlertHour(
                hour=start,
                by_type=by_type.get(k, {}),
                by_severity=by_severity.get(k, {}),
                total=totals.get(k, 0),
            )
        )
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today = (
        await session.execute(
            select(func.count()).select_from(Alert).where(Alert.created_at >= midnight)
        )
    ).scalar_one()

    online = nvr_status.get("online", 0)
    total = sum(nvr_status.values())
    return SummaryStats(
        nvrs=NvrCounts(total=total, online=online, offline=total - online),
        cameras=cams,
        regions=[regions[k] for k in sorted(regions)],
        alerts_by_hour=hours,
        alerts_today=int(today),
        timestamp=now,
    )
