"""The audit trail stays append-only and is purged by age (issue 14 item 7), on SQLite and
PostgreSQL: the api's periodic purge removes expired events only; on PostgreSQL the trigger
of migration 0004 refuses UPDATE, DELETE and TRUNCATE outside the purge."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from beholder.auth.audit import purge_expired
from beholder.config import AuditSettings
from beholder.db.models import AuditEvent
from beholder.errors import DatabaseError
from beholder.messages import utcnow
from support.api import live_api
from support.polling import eventually
from support.settings import make_settings


def event(days_ago: float, name: str) -> AuditEvent:
    return AuditEvent(
        occurred_at=utcnow() - timedelta(days=days_ago),
        principal_type="anonymous",
        actor_name=name,
        action="auth.sign_in_failed",
        outcome="failure",
    )


async def names(db: object) -> set[str | None]:
    async with db.session() as s:  # type: ignore[attr-defined]
        return set((await s.execute(select(AuditEvent.actor_name))).scalars())


async def test_the_api_purges_expired_events_periodically(
    tmp_path: Path, database_url: str | None
) -> None:
    audit = AuditSettings(retention_days=30, purge_interval=0.2)
    async with live_api(make_settings(tmp_path, database_url, audit=audit)) as api:
        db = api.state.db
        async with db.session() as s:
            s.add_all([event(45, "expired"), event(29, "kept"), event(0, "fresh")])
        # Inserted after start-up: only a later, periodic run can remove it.
        left = await eventually(
            lambda: _without(db, "expired"), 10, "the expired event to be purged"
        )
        assert {"kept", "fresh"} <= left


async def _without(db: object, name: str) -> set[str | None] | None:
    left = await names(db)
    return left if name not in left else None


async def test_rows_cannot_be_changed_and_only_the_purge_deletes(
    tmp_path: Path, database_url: str | None
) -> None:
    async with live_api(make_settings(tmp_path, database_url)) as api:
        db = api.state.db
        async with db.session() as s:
            s.add_all([event(400, "old"), event(1, "recent")])
        with pytest.raises(DatabaseError) as refused:
            async with db.session() as s:
                await s.execute(text("UPDATE audit_events SET outcome = 'success'"))
        assert "append-only" in str(refused.value.detail)
        if db.dialect == "postgresql":
            for sql in ("DELETE FROM audit_events", "TRUNCATE audit_events"):
                with pytest.raises(DatabaseError) as refused:
                    async with db.session() as s:
                        await s.execute(text(sql))
                assert "append-only" in str(refused.value.detail)
        assert await purge_expired(db, 365) == 1
        assert {"recent"} <= await names(db) and "old" not in await names(db)
        if db.dialect == "postgresql":
            # The purge's opening was for its own transaction only.
            with pytest.raises(DatabaseError):
                async with db.session() as s:
                    await s.execute(text("DELETE FROM audit_events"))
            assert "recent" in await names(db)
