"""The audit trail: append, filtered newest-first pages, retention purge.

Append-only by construction: this module has no update and no delete but
:func:`purge_before`, and on PostgreSQL a trigger refuses any other UPDATE/DELETE (migration
0004). Rows are added to the caller's session so that an action and its audit row commit
together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from beholder.db.models import AuditEvent
from beholder.db.repositories.alerts import decode_cursor, encode_cursor


@dataclass(slots=True)
class AuditFilter:
    """Filters of ``GET /api/audit``; ``None`` means no filter. ``actor`` matches the actor
    id or name exactly; ``since``/``until`` bound ``occurred_at`` (inclusive)."""

    action: str | None = None
    actor: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def append(session: AsyncSession, event: AuditEvent) -> AuditEvent:
    """Add ``event`` to ``session`` (written at its next flush/commit, with the change it
    records)."""
    session.add(event)
    return event


async def page(
    session: AsyncSession, flt: AuditFilter, limit: int, cursor: str | None
) -> tuple[list[AuditEvent], str | None]:
    """Up to ``limit`` events newest first, and the cursor of the next page (or ``None``);
    raises ``InvalidInput`` for a bad cursor."""
    conds = []
    if flt.action is not None:
        conds.append(AuditEvent.action == flt.action)
    if flt.actor is not None:
        conds.append(or_(AuditEvent.actor_id == flt.actor, AuditEvent.actor_name == flt.actor))
    if flt.target_type is not None:
        conds.append(AuditEvent.target_type == flt.target_type)
    if flt.target_id is not None:
        conds.append(AuditEvent.target_id == flt.target_id)
    if flt.outcome is not None:
        conds.append(AuditEvent.outcome == flt.outcome)
    if flt.since is not None:
        conds.append(AuditEvent.occurred_at >= flt.since)
    if flt.until is not None:
        conds.append(AuditEvent.occurred_at <= flt.until)
    if cursor:
        c_at, c_id = decode_cursor(cursor)
        conds.append(
            or_(
                AuditEvent.occurred_at < c_at,
                and_(AuditEvent.occurred_at == c_at, AuditEvent.id < c_id),
            )
        )
    q = select(AuditEvent)
    if conds:
        q = q.where(and_(*conds))
    q = q.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(limit + 1)
    rows = list((await session.execute(q)).scalars())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].occurred_at, rows[-1].id)
    return rows, next_cursor


async def purge_before(session: AsyncSession, cutoff: datetime) -> int:
    """Delete the events older than ``cutoff`` (the retention purge, the one delete there
    is); returns how many. On PostgreSQL it opens the append-only trigger for this
    transaction only (``SET LOCAL beholder.audit_purge``). The caller commits."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL beholder.audit_purge = 'on'"))
    result = await session.execute(
        delete(AuditEvent)
        .where(AuditEvent.occurred_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    count = getattr(result, "rowcount", 0)
    return int(count) if isinstance(count, int) else 0
