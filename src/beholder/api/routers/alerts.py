"""``/api/alerts``: filtered history (cursor pagination, newest first), get, acknowledge,
snapshot."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from sqlalchemy.ext.asyncio import AsyncSession

from beholder.api.deps import MediaViewerDep, OperatorDep, SessionDep, StateDep, ViewerDep
from beholder.api.fanout import fan_out
from beholder.api.schemas import AlertOut, AlertSeverity, AlertType, Page, UtcInstant
from beholder.api.views import alert_out
from beholder.auth.audit import record
from beholder.auth.ownership import may_see_alert, visible_alerts
from beholder.auth.roles import Principal
from beholder.contracts import hub as hub_messages
from beholder.contracts.audit import AuditAction, AuditTarget
from beholder.contracts.wire import utcnow
from beholder.db.models import Alert
from beholder.db.repositories import alerts as alerts_repo
from beholder.db.repositories import streams as streams_repo
from beholder.errors import InvalidInput, NotFound
from beholder.files import safe_child

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


@router.get("", response_model=Page[AlertOut])
async def list_alerts(
    principal: ViewerDep,
    session: SessionDep,
    camera_id: Annotated[str | None, Query(alias="cameraId", max_length=64)] = None,
    stream_id: Annotated[str | None, Query(alias="streamId", max_length=64)] = None,
    severity: AlertSeverity | None = None,
    type: AlertType | None = None,
    since: UtcInstant | None = None,
    until: UtcInstant | None = None,
    acknowledged: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page[AlertOut]:
    """Alerts newest first; pass ``nextCursor`` back as ``cursor`` for the next page.

    Alerts of a mobile stream are listed only for its owner and admins (``streamId`` of
    someone else's stream gives an empty page)."""
    if since is not None and until is not None and since > until:
        raise InvalidInput("'since' must be before 'until'.")
    flt = alerts_repo.AlertFilter(
        camera_id=camera_id,
        stream_id=stream_id,
        severity=severity,
        type=type,
        since=since,
        until=until,
        acknowledged=acknowledged,
        visible=visible_alerts(principal),
    )
    rows, next_cursor = await alerts_repo.page(session, flt, limit, cursor)
    return Page(items=[alert_out(a) for a in rows], next_cursor=next_cursor)


async def _visible_alert(session: AsyncSession, principal: Principal, alert_id: str) -> Alert:
    """The alert if ``principal`` may see it; 404 otherwise (someone else's stream's alert
    is not found, the same answer as an unknown id)."""
    row = await alerts_repo.get(session, alert_id)
    if not await may_see_alert(session, principal, row):
        raise NotFound("Alert not found.", detail=f"alert {alert_id} of another's stream")
    return row


@router.get("/{alert_id}", response_model=AlertOut)
async def get_alert(alert_id: str, principal: ViewerDep, session: SessionDep) -> AlertOut:
    return alert_out(await _visible_alert(session, principal, alert_id))


@router.post("/{alert_id}/acknowledge", response_model=AlertOut)
async def acknowledge_alert(
    alert_id: str, principal: OperatorDep, session: SessionDep, state: StateDep
) -> AlertOut:
    """Mark an alert as handled (idempotent: the first acknowledgement is kept)."""
    before = await _visible_alert(session, principal, alert_id)
    first = before.acknowledged_at is None
    row = await alerts_repo.acknowledge(session, alert_id, principal.name)
    if first:  # acknowledging again changes nothing: no new row
        record(
            session,
            AuditAction.ALERT_ACKNOWLEDGE,
            principal,
            target_type=AuditTarget.ALERT,
            target_id=row.id,
        )
    stream = await streams_repo.find(session, row.stream_id) if row.stream_id else None
    await session.commit()
    out = alert_out(row)
    if row.stream_id is not None and stream is None:
        return out  # its stream is gone: nobody to tell
    ack = hub_messages.alert_acknowledged(
        row.id,
        row.camera_id,
        row.acknowledged_by,
        row.acknowledged_at or utcnow(),
        stream_id=row.stream_id,
    )
    # A stream's alert: only to the stream owner's dashboards (fan_out's ``stream``).
    await fan_out(state, "alerts", ack, camera_id=row.camera_id, stream=stream)
    return out


@router.get(
    "/{alert_id}/snapshot.jpg",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}, "description": "JPEG image"}},
)
async def alert_snapshot(
    alert_id: str, principal: MediaViewerDep, session: SessionDep, state: StateDep
) -> FileResponse:
    """The full frame with the faces boxed, as stored when the alert was raised."""
    row = await _visible_alert(session, principal, alert_id)
    if row.snapshot_path is None:
        raise NotFound("This alert has no snapshot.")
    # The stored name is ours ("<uuid>.jpg"), but never trust a path from the DB blindly:
    # a name that leaves the folder answers like a missing file (UnsafePath is a NotFound).
    path = safe_child(state.settings.snapshot_dir, row.snapshot_path)
    if not path.is_file():
        raise NotFound(
            "The snapshot is no longer available.", detail=f"missing {row.snapshot_path}"
        )
    return FileResponse(
        path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"}
    )
