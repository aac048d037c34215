"""The streams repository and stream alerts (issue 10) on SQLite and on the real PostgreSQL:
create with metadata, get, owned listing with status filter and cursor pages, update,
status with last seen, delete (alerts cascade), a stream alert with its source, and the
0002 migration over existing rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from beholder.db.engine import Database
from beholder.db.migrate import alembic_config, upgrade_async
from beholder.db.models import ApiKey, User, VideoStream
from beholder.db.repositories import alerts as alerts_repo
from beholder.db.repositories import streams as streams_repo
from beholder.errors import InvalidInput, NotFound
from support.settings import make_settings


@pytest.fixture
async def db(tmp_path: Path, database_url: str | None) -> AsyncIterator[Database]:
    settings = make_settings(tmp_path, database_url)
    database = Database(settings)  # creates the data dir and the SQLite file
    await upgrade_async(settings.resolved_database_url)
    try:
        yield database
    finally:
        await database.dispose()


async def _owners(db: Database) -> tuple[str, str, str]:
    async with db.session() as s:
        alice = User(username="alice", password_hash="x", role="viewer")
        bob = User(username="bob", password_hash="x", role="viewer")
        s.add_all([alice, bob])
        await s.flush()
        key = ApiKey(name="phone", prefix="p1", key_hash="h", owner_id=alice.id, scope="mobile")
        s.add(key)
        await s.flush()
        return alice.id, bob.id, key.id


async def test_create_get_update_status_delete(db: Database) -> None:
    alice, _, key = await _owners(db)
    async with db.session() as s:
        made = await streams_repo.create(
            s,
            "Pixel 8",
            owner_id=alice,
            owner_key_id=key,
            device_type="android",
            metadata={"resolution": "1280x720", "fps": 30},
        )
        stream_id = made.id
    async with db.session() as s:
        row = await streams_repo.get(s, stream_id)
        assert (row.device_name, row.device_type, row.status) == ("Pixel 8", "android", "offline")
        assert row.stream_metadata == {"resolution": "1280x720", "fps": 30}
        assert row.face_detection_enabled is False and row.last_seen_at is None
        assert row.owner_id == alice and row.owner_key_id == key
        assert row.updated_at.tzinfo is not None
        created = row.updated_at
    async with db.session() as s:
        changed = await streams_repo.update(
            s, stream_id, device_name="Kitchen phone", face_detection_enabled=True
        )
        assert changed.updated_at >= created
    at = datetime(2026, 12, 1, 12, 0, 0, 123000, tzinfo=UTC)
    async with db.session() as s:
        assert await streams_repo.set_status(s, stream_id, "streaming", at) is not None
    async with db.session() as s:
        row = await streams_repo.get(s, stream_id)
        assert (row.device_name, row.face_detection_enabled) == ("Kitchen phone", True)
        assert row.status == "streaming" and row.last_seen_at == at
        with pytest.raises(ValueError):
            await streams_repo.set_status(s, stream_id, "flying")
    async with db.session() as s:
        alert = await alerts_repo.create_stream_alert(
            s,
            stream_id,
            type="ml-alert",
            severity="high",
            message="person at the door",
            metadata={"confidence": 0.91, "box": [1, 2, 3, 4], "deviceName": "Kitchen phone"},
            source=f"api_key:{key}",
        )
        alert_id = alert.id
    async with db.session() as s:
        stored = await alerts_repo.get(s, alert_id)
        assert stored.stream_id == stream_id and stored.source == f"api_key:{key}"
        assert stored.type == "ml-alert" and stored.alert_metadata["confidence"] == 0.91
        again = await alerts_repo.create_stream_alert(
            s,
            stream_id,
            type="ml-alert",
            severity="low",
            message="dup",
            metadata={},
            source=None,
            alert_id=alert_id,
        )
        assert again.message == "person at the door"  # idempotent on id
    async with db.session() as s:
        assert await streams_repo.remove(s, stream_id) is True
    async with db.session() as s:
        with pytest.raises(NotFound):
            await streams_repo.get(s, stream_id)
        assert await alerts_repo.find(s, alert_id) is None  # cascaded
        assert await streams_repo.remove(s, stream_id) is False
        assert await streams_repo.set_status(s, stream_id, "offline") is None


async def test_owned_listing_pages_and_filters(db: Database) -> None:
    alice, bob, _ = await _owners(db)
    async with db.session() as s:
        mine = [(await streams_repo.create(s, f"a{i}", owner_id=alice)).id for i in range(5)]
        await streams_repo.create(s, "b0", owner_id=bob)
        await streams_repo.set_status(s, mine[1], "online")
        await streams_repo.set_status(s, mine[3], "online")
    owned = VideoStream.owner_id == alice
    seen: list[str] = []
    cursor = None
    async with db.session() as s:
        while True:
            rows, cursor = await streams_repo.list_owned(s, owned, limit=2, cursor=cursor)
            assert len(rows) <= 2
            seen += [r.id for r in rows]
            if cursor is None:
                break
        assert sorted(seen) == sorted(mine) and len(seen) == len(set(seen))
        assert seen == [r.id for r in sorted(
            [await streams_repo.get(s, i) for i in mine],
            key=lambda r: (r.created_at, r.id), reverse=True,
        )]  # fmt: skip
        online, nxt = await streams_repo.list_owned(s, owned, status="online")
        assert {r.id for r in online} == {mine[1], mine[3]} and nxt is None
        every, _ = await streams_repo.list_owned(s, None, limit=50)
        assert len(every) == 6
        assert await streams_repo.count_owned(s, owned) == 5
        with pytest.raises(InvalidInput):
            await streams_repo.list_owned(s, owned, cursor="not-a-cursor")


async def test_migration_0002_keeps_existing_streams(db: Database) -> None:
    """Down to 0001, a stream row as it was stored then, up again: the new columns are
    filled (face detection off, updated = created) and the alert source is empty."""
    url = db.settings.resolved_database_url
    await db.engine.dispose()
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0001")
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO video_streams (id, device_name, status, created_at) "
                "VALUES ('11111111-1111-4111-8111-111111111111', 'old', 'offline', :at)"
            ),
            {"at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).replace(tzinfo=None)},
        )
    await db.engine.dispose()
    await upgrade_async(url)
    async with db.session() as s:
        row = await streams_repo.get(s, "11111111-1111-4111-8111-111111111111")
        assert row.face_detection_enabled is False
        assert row.updated_at == row.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
