"""``/api/audit``: the audit trail, newest first (admins only; issue 14 item 7).

Read-only: there is no endpoint that changes or deletes an audit event."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from beholder.api.deps import AdminDep, SessionDep
from beholder.api.schemas import UtcInstant
from beholder.contracts.audit import (
    AuditAction,
    AuditEventOut,
    AuditOutcome,
    AuditPage,
    AuditTarget,
    PrincipalType,
)
from beholder.db.models import AuditEvent
from beholder.db.repositories import audit as audit_repo
from beholder.errors import InvalidInput

router = APIRouter(prefix="/api/audit", tags=["audit"])


def audit_out(row: AuditEvent) -> AuditEventOut:
    """The public view of an audit row."""
    return AuditEventOut(
        id=row.id,
        timestamp=row.occurred_at,
        actor_id=row.actor_id,
        actor_name=row.actor_name,
        principal_type=PrincipalType(row.principal_type),
        action=AuditAction(row.action),
        target_type=AuditTarget(row.target_type) if row.target_type else None,
        target_id=row.target_id,
        client_address=row.client_address,
        correlation_id=row.correlation_id,
        outcome=AuditOutcome(row.outcome),
        details=row.details,
    )


@router.get("", response_model=AuditPage)
async def list_audit_events(
    _: AdminDep,
    session: SessionDep,
    action: AuditAction | None = None,
    actor: Annotated[
        str | None, Query(max_length=128, description="actor id or name (exact)")
    ] = None,
    target_type: Annotated[AuditTarget | None, Query(alias="targetType")] = None,
    target_id: Annotated[str | None, Query(alias="targetId", max_length=64)] = None,
    outcome: AuditOutcome | None = None,
    since: Annotated[UtcInstant | None, Query(alias="from")] = None,
    until: Annotated[UtcInstant | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> AuditPage:
    """Audit events newest first, filtered; pass ``nextCursor`` back as ``cursor`` for the
    next page. ``from``/``to`` bound the time (inclusive, UTC when no offset is given).
    400 INVALID_INPUT for a bad cursor or ``from`` after ``to``."""
    if since is not None and until is not None and since > until:
        raise InvalidInput("'from' must be before 'to'.")
    flt = audit_repo.AuditFilter(
        action=action.value if action else None,
        actor=actor,
        target_type=target_type.value if target_type else None,
        target_id=target_id,
        outcome=outcome.value if outcome else None,
        since=since,
        until=until,
    )
    rows, next_cursor = await audit_repo.page(session, flt, limit, cursor)
    return AuditPage(items=[audit_out(r) for r in rows], next_cursor=next_cursor)
