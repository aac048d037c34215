"""``beholder cluster up``'s database step on the real PostgreSQL: the cluster's database is
created on the first run only (a second run, or a second ``cluster up`` racing the first,
finds it), the first-run check counts its users, and an unreachable server is one clear
error instead of a traceback."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from beholder.cluster import database
from beholder.db.migrate import upgrade
from support.database import admin_sql, pg_available
from support.settings import free_port

pytestmark = pytest.mark.postgres


@pytest.fixture
def fresh_url() -> Iterator[str]:
    """The URL of a database that does not exist yet (dropped afterwards if created)."""
    if not pg_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name = "beholder_cl_" + uuid.uuid4().hex[:12]
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_the_database_is_created_once_then_found(fresh_url: str) -> None:
    assert database.ensure_database(fresh_url) is True
    assert database.ensure_database(fresh_url) is False
    upgrade(fresh_url)
    assert database.count_users(fresh_url) == 0  # a first run: `cluster up` prints the admin


def test_two_cluster_ups_racing_on_a_fresh_server_both_succeed(fresh_url: str) -> None:
    with ThreadPoolExecutor(2) as pool:
        created = list(pool.map(database.ensure_database, [fresh_url, fresh_url]))
    assert sorted(created) == [False, True]


def test_an_unreachable_server_or_an_unmigrated_database_is_one_clear_error(
    fresh_url: str,
) -> None:
    nobody = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/beholder_cluster"
    with pytest.raises(database.DatabaseError, match="refused or did not answer"):
        database.ensure_database(nobody, timeout=3)
    database.ensure_database(fresh_url)
    with pytest.raises(database.DatabaseError, match="cannot count the users"):
        database.count_users(fresh_url)
