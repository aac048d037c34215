"""Database fixtures: every test that takes ``database_url`` runs twice, on the embedded
SQLite and on the real PostgreSQL (a clone of one migrated template database per test)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get("BEHOLDER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
"""Where tests create and drop their databases (``BEHOLDER_TEST_PG`` overrides)."""

_PG_TEMPLATE = "beholder_tpl_" + uuid.uuid4().hex[:8]


def pg_available() -> bool:
    """True when something listens on PostgreSQL's port on 127.0.0.1."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


async def admin_sql(sql: str) -> None:
    """Run one statement as the PostgreSQL superuser on :data:`PG_ADMIN_URL` (``CREATE``/
    ``DROP DATABASE``: outside a transaction)."""
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database; each test clones it (fast, isolated)."""
    if not pg_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    from beholder.db.migrate import upgrade

    def create() -> None:
        asyncio.run(admin_sql(f'CREATE DATABASE "{_PG_TEMPLATE}"'))
        upgrade(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{_PG_TEMPLATE}")

    # Fixtures may be set up while an event loop runs in this thread: use another one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(create).result()
    yield _PG_TEMPLATE
    with ThreadPoolExecutor(1) as pool:
        pool.submit(
            asyncio.run, admin_sql(f'DROP DATABASE IF EXISTS "{_PG_TEMPLATE}" WITH (FORCE)')
        ).result()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str | None]:
    """Run the test on SQLite (embedded default: ``None``) and on the real PostgreSQL (the
    URL of a fresh clone of :func:`pg_template`, dropped afterwards)."""
    if request.param == "sqlite":
        yield None
        return
    template = request.getfixturevalue("pg_template")
    name = "beholder_t_" + uuid.uuid4().hex[:12]
    await admin_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    await admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
