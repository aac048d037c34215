"""Several api instances of a cluster starting together on one fresh database (issue 12
item 4): each sees no user yet and creates ``admin``; the database's unique name lets one
win, and the others must start normally instead of failing start-up with a conflict."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from beholder.bootstrap import ensure_admin
from beholder.db.engine import Database
from beholder.db.migrate import upgrade_async
from beholder.db.models import User
from beholder.db.repositories import users as users_repo
from support.settings import make_settings


async def test_instances_starting_together_create_one_admin(
    database_url: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await upgrade_async(settings.resolved_database_url)

    async def nobody_yet(_session: object) -> int:
        return 0  # every instance looked before any of them inserted

    monkeypatch.setattr(users_repo, "count", nobody_yet)
    dbs = [Database(settings) for _ in range(3)]
    try:
        created = await asyncio.gather(*(ensure_admin(db, settings) for db in dbs))
        assert sorted(created) == [False, False, True]
        async with dbs[0].session() as s:
            assert await s.scalar(select(func.count()).select_from(User)) == 1
    finally:
        for db in dbs:
            await db.dispose()
