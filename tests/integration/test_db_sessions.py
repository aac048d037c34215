"""``Database.session`` under cancellation, on SQLite and on the real PostgreSQL.

A task cancelled while its session hands the connection back (a signal during start-up,
a client gone mid-request) must stop quietly: the connection is reset and returned to the
pool, nothing is logged at ERROR (CI once failed on SQLAlchemy's "Exception during reset
or similar" after a SIGTERM during ``serve`` start-up), and the cancellation still reaches
the task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from beholder.db.engine import Database
from beholder.db.migrate import upgrade_async
from support.settings import make_settings


@pytest.fixture
async def db(tmp_path: Path, database_url: str | None) -> AsyncIterator[Database]:
    settings = make_settings(tmp_path, database_url)
    database = Database(settings)
    await upgrade_async(settings.resolved_database_url)
    try:
        yield database
    finally:
        await database.dispose()


async def test_cancelled_while_returning_the_connection_is_quiet(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    cancel_on_reset: dict[str, Any] = {"armed": False, "task": None}

    def on_reset(_dbapi_conn: Any, _record: Any, _state: Any) -> None:
        # Fires inside the pool's reset, just before its ROLLBACK is awaited: the exact
        # window a signal hit in CI. Cancel the task that used the session.
        if cancel_on_reset["armed"]:
            cancel_on_reset["armed"] = False
            cancel_on_reset["task"].cancel()

    event.listen(db.engine.sync_engine.pool, "reset", on_reset)

    async def use_session() -> int:
        cancel_on_reset["task"] = asyncio.current_task()
        async with db.session() as s:
            value = (await s.execute(text("SELECT 1"))).scalar_one()
            cancel_on_reset["armed"] = True
        return int(value)

    caplog.set_level(logging.DEBUG, logger="sqlalchemy.pool")
    task = asyncio.create_task(use_session())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancel_on_reset["armed"] is False, "the reset hook never ran"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    assert db.pool_status()["checkedOut"] == 0
    # the pool still hands out a working connection
    async with db.session() as s:
        assert (await s.execute(text("SELECT 2"))).scalar_one() == 2
