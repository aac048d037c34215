"""The audit recorder: who did what to which target, from where, under which correlation id,
and how it ended (issue 14 item 7).

:func:`record` adds the row to the session that makes the change, so that the action and its
audit row commit (or roll back) together; :func:`record_alone` commits a row on its own
session, for outcomes whose own transaction rolls back (a failed sign-in). The client address
is read from :data:`client_address_var` (set per request by the HTTP middleware), the
correlation id from :data:`beholder.observability.correlation_id_var`.

Never a secret: ``details`` goes through :func:`safe_details` (field *names*, small scalars;
keys that name a password, token, key, secret or URL are dropped, and so is any value that
looks like a URL with credentials). A failed sign-in keeps the username tried, never the
password.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from beholder.auth.roles import Principal
from beholder.contracts.audit import AuditAction, AuditOutcome, AuditTarget, PrincipalType
from beholder.db.engine import Database
from beholder.db.models import AuditEvent
from beholder.db.repositories import audit as audit_repo
from beholder.messages import utcnow
from beholder.observability import correlation_id_var

log = structlog.get_logger(__name__)

client_address_var: ContextVar[str | None] = ContextVar("client_address", default=None)
"""The calling client's IP address during an HTTP request (``None`` elsewhere)."""

MAX_DETAILS_BYTES = 2048
"""``details`` larger than this (as JSON) are replaced by ``{"truncated": true}``."""
_MAX_STRING = 128
_MAX_LIST = 32
_SECRET_NAME = re.compile(
    r"pass|secret|token|credential|authori[sz]ation|cookie|^key$|api_?key|rtsp|url|sig",
    re.IGNORECASE,
)
_URL_WITH_USERINFO = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s]*@", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: ``id`` (user or key id; ``None`` for the system or an unknown user),
    ``name`` (username, key name, ``cli``…) and its :class:`PrincipalType`."""

    type: PrincipalType
    id: str | None = None
    name: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        """The actor of an authenticated principal (user or API key)."""
        kind = PrincipalType.USER if principal.kind == "user" else PrincipalType.API_KEY
        return cls(kind, principal.id, principal.name)

    @classmethod
    def anonymous(cls, username: str) -> Actor:
        """Someone not signed in who gave ``username`` (kept, cut to 64 characters)."""
        return cls(PrincipalType.ANONYMOUS, None, username[:64])


CLI = Actor(PrincipalType.SYSTEM, None, "cli")
"""The shell administration commands (``beholder user …``, ``beholder api-key …``)."""


def _safe_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if _URL_WITH_USERINFO.search(value):
            return None
        return value[:_MAX_STRING]
    if isinstance(value, list | tuple | set | frozenset):
        items = [_safe_value(v) for v in list(value)[:_MAX_LIST]]
        return [v for v in items if v is None or isinstance(v, str | int | float | bool)]
    return None  # nested objects are not audit material


def safe_details(details: dict[str, Any] | None) -> dict[str, Any] | None:
    """``details`` fit for the audit trail: keys naming a secret (password, token, key,
    secret, URL…) dropped, values reduced to short strings, numbers, booleans and short
    lists of those, URLs with credentials dropped, at most :data:`MAX_DETAILS_BYTES`."""
    if not details:
        return None
    out = {
        str(k)[:64]: _safe_value(v) for k, v in details.items() if not _SECRET_NAME.search(str(k))
    }
    if len(json.dumps(out, default=str)) > MAX_DETAILS_BYTES:
        return {"truncated": True}
    return out


def _event(
    action: AuditAction,
    actor: Actor,
    target_type: AuditTarget | None,
    target_id: str | None,
    outcome: AuditOutcome,
    details: dict[str, Any] | None,
) -> AuditEvent:
    address = client_address_var.get()
    return AuditEvent(
        actor_id=actor.id,
        actor_name=(actor.name or "")[:128] or None,
        principal_type=actor.type.value,
        action=action.value,
        target_type=target_type.value if target_type else None,
        target_id=target_id[:64] if target_id else None,
        client_address=address[:64] if address else None,
        correlation_id=correlation_id_var.get(),
        outcome=outcome.value,
        details=safe_details(details),
    )


def record(
    session: AsyncSession,
    action: AuditAction,
    actor: Actor | Principal,
    *,
    target_type: AuditTarget | None = None,
    target_id: str | None = None,
    outcome: AuditOutcome = AuditOutcome.SUCCESS,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit row to ``session``: it is written when the session commits, with the
    change it records (and not at all if that rolls back)."""
    who = Actor.of(actor) if isinstance(actor, Principal) else actor
    return audit_repo.append(session, _event(action, who, target_type, target_id, outcome, details))


async def record_alone(
    db: Database,
    action: AuditAction,
    actor: Actor | Principal,
    *,
    target_type: AuditTarget | None = None,
    target_id: str | None = None,
    outcome: AuditOutcome = AuditOutcome.FAILURE,
    details: dict[str, Any] | None = None,
) -> None:
    """Commit one audit row in its own session (for a failure whose own transaction rolls
    back). A database error is logged, never raised: the caller's answer (e.g. 401) stands."""
    try:
        async with db.session() as s:
            record(
                s,
                action,
                actor,
                target_type=target_type,
                target_id=target_id,
                outcome=outcome,
                details=details,
            )
    except Exception:
        log.exception("audit row not written", action=action.value)


def changed_fields(changes: dict[str, Any]) -> dict[str, Any]:
    """``{"changed": [names]}`` of a PATCH body's fields (names only, never values)."""
    return {"changed": sorted(changes)}


async def purge_expired(db: Database, retention_days: float) -> int:
    """Delete the events older than ``retention_days``; returns how many (logged when any)."""
    cutoff = utcnow() - timedelta(days=retention_days)
    async with db.session() as s:
        count = await audit_repo.purge_before(s, cutoff)
    if count:
        log.info("audit events purged", count=count, older_than=cutoff.isoformat())
    return count


class AuditRetention:
    """Runs :func:`purge_expired` now and then every ``interval`` s until :meth:`stop`. A
    failed purge is logged and retried at the next interval (the database may be down)."""

    def __init__(self, db: Database, retention_days: float, interval: float) -> None:
        self._db = db
        self._days = retention_days
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-purge")

    async def stop(self) -> None:
        """Cancel the loop and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await purge_expired(self._db, self._days)
            except Exception:
                log.exception("audit purge failed")
            await asyncio.sleep(self._interval)
