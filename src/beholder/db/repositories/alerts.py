"""Alerts: insert, filtered newest-first listing with opaque cursors, acknowledge, replay."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, inspect, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from beholder.db.models import Alert
from beholder.errors import InvalidInput, NotFound
from beholder.messages import new_id, utcnow


@dataclass(slots=True)
class AlertFilter:
    """Filters of ``GET /api/alerts``; ``None`` means no filter."""

    camera_id: str | None = None
    stream_id: str | None = None
    severity: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    acknowledged: bool | None = None
    visible: ColumnElement[bool] | None = None
    """Which rows the caller may see at all (``auth.ownership.visible_alerts``)."""


def encode_cursor(created_at: datetime, alert_id: str) -> str:
    """Opaque cursor for the position just after (older than) this alert."""
    raw = json.dumps([created_at.isoformat(), alert_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Inverse of :func:`encode_cursor`; raises ``InvalidInput`` for a bad cursor."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, alert_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created), str(alert_id)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("The page cursor is not valid.", detail=str(exc)) from exc


def _row_values(alert: Alert) -> dict[str, Any]:
    """``alert``'s column values by column name (``None`` left out: column defaults apply)."""
    values: dict[str, Any] = {}
    for prop in inspect(Alert).column_attrs:
        value = getattr(alert, prop.key)
        if value is not None:
            values[prop.columns[0].name] = value
    return values


async def insert_once(session: AsyncSession, alert: Alert) -> bool:
    """``INSERT … ON CONFLICT (id) DO NOTHING`` of ``alert`` (not added to the session);
    True when the row is new, False when an alert with that id exists (a redelivery).

    Race-free across api instances: on PostgreSQL a concurrent insert of the same id waits
    for the first transaction and then does nothing; SQLite has one writer."""
    if alert.created_at is None:
        alert.created_at = utcnow()
    dialect = session.get_bind().dialect.name
    table = cast(Table, Alert.__table__)
    values = _row_values(alert)
    if dialect == "postgresql":
        stmt: Any = (
            postgresql.insert(table).values(values).on_conflict_do_nothing(index_elements=["id"])
        )
    else:
        stmt = sqlite.insert(table).values(values).on_conflict_do_nothing(index_elements=["id"])
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


async def clear_snapshot(session: AsyncSession, alert_id: str) -> None:
    """Forget an alert's snapshot (its file could not be written)."""
    table = cast(Table, Alert.__table__)
    await session.execute(update(table).where(table.c.id == alert_id).values(snapshot_path=None))


async def insert(session: AsyncSession, alert: Alert) -> Alert:
    """Persist a new alert (idempotent on id: a redelivered alert is returned as stored)."""
    if await insert_once(session, alert):
        return alert
    return await get(session, alert.id)


async def create_stream_alert(
    session: AsyncSession,
    stream_id: str,
    *,
    type: str,
    severity: str,
    message: str,
    metadata: dict[str, Any],
    source: str | None,
    alert_id: str | None = None,
    thumbnail: str | None = None,
    snapshot_path: str | None = None,
) -> Alert:
    """Persist an alert of mobile stream ``stream_id`` (``type`` ``ml-alert`` or
    ``face-detection``; ``source`` the raising principal, ``api_key:<id>``/``user:<id>``/
    ``worker:<id>``), stamped now (receipt time orders history). Idempotent on
    ``alert_id`` like :func:`insert`."""
    return await insert(
        session,
        Alert(
            id=alert_id or new_id(),
            stream_id=stream_id,
            type=type,
            severity=severity,
            message=message,
            alert_metadata=metadata,
            source=source,
            thumbnail=thumbnail,
            snapshot_path=snapshot_path,
            created_at=utcnow(),
        ),
    )


async def find(session: AsyncSession, alert_id: str) -> Alert | None:
    """The alert, or ``None``."""
    return await session.get(Alert, alert_id)


async def get(session: AsyncSession, alert_id: str) -> Alert:
    """The alert; raises ``NotFound``."""
    row = await session.get(Alert, alert_id)
    if row is None:
        raise NotFound("Alert not found.")
    return row


async def page(
    session: AsyncSession, flt: AlertFilter, limit: int, cursor: str | None
) -> tuple[list[Alert], str | None]:
    """Up to ``limit`` alerts newest first, and the cursor of the next page (or ``None``)."""
    q = select(Alert)
    conds = []
    if flt.visible is not None:
        conds.append(flt.visible)
    if flt.camera_id is not None:
        conds.append(Alert.camera_id == flt.camera_id)
    if flt.stream_id is not None:
        conds.append(Alert.stream_id == flt.stream_id)
    if flt.severity is not None:
        conds.append(Alert.severity == flt.severity)
    if flt.type is not None:
        conds.append(Alert.type == flt.type)
    if flt.since is not None:
        conds.append(Alert.created_at >= flt.since)
    if flt.until is not None:
        conds.append(Alert.created_at <= flt.until)
    if flt.acknowledged is True:
        conds.append(Alert.acknowledged_at.is_not(None))
    elif flt.acknowledged is False:
        conds.append(Alert.acknowledged_at.is_(None))
    if cursor:
        c_at, c_id = decode_cursor(cursor)
        conds.append(or_(Alert.created_at < c_at, and_(Alert.created_at == c_at, Alert.id < c_id)))
    if conds:
        q = q.where(and_(*conds))
    q = q.order_by(Alert.created_at.desc(), Alert.id.desc()).limit(limit + 1)
    rows = list((await session.execute(q)).scalars())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(last.created_at, last.id)
    return rows, next_cursor


async def after(session: AsyncSession, last_alert_id: str, limit: int) -> list[Alert]:
    """Camera alerts newer than ``last_alert_id``, oldest first (hub replay). Unknown id → [].

    Alerts of mobile streams are left out: they belong to their stream's owner
    (``auth.ownership``) and the replay is not told who asks."""
    last = await session.get(Alert, last_alert_id)
    if last is None:
        return []
    q = (
        select(Alert)
        .where(
            Alert.stream_id.is_(None),
            or_(
                Alert.created_at > last.created_at,
                and_(Alert.created_at == last.created_at, Alert.id > last.id),
            ),
        )
        .order_by(Alert.created_at.asc(), Alert.id.asc())
        .limit(limit)
    )
    return list((await session.execute(q)).scalars())


async def acknowledge(session: AsyncSession, alert_id: str, by: str) -> Alert:
    """Mark acknowledged (first acknowledgement wins); raises ``NotFound``."""
    row = await get(session, alert_id)
    if row.acknowledged_at is None:
        row.acknowledged_at = utcnow()
        row.acknowledged_by = by
    return row
