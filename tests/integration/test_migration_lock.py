"""Migrations run once when several api instances start together (issue 12 item 4): two
processes migrating one fresh PostgreSQL database at the same moment both succeed (the
second waits on the advisory lock, then finds the schema at head)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from support.database import admin_sql, pg_available

pytestmark = pytest.mark.skipif(not pg_available(), reason="PostgreSQL not running")

_MIGRATE = "import sys; from beholder.db.migrate import upgrade; upgrade(sys.argv[1])"


@pytest.fixture
def fresh_database() -> Iterator[str]:
    name = "beholder_m_" + uuid.uuid4().hex[:12]
    asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    yield name
    asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_two_processes_migrate_one_fresh_database_once(fresh_database: str) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{fresh_database}"
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _MIGRATE, url],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-3000:]

    async def schema() -> tuple[list[str], set[str]]:
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{fresh_database}")
        try:
            versions = [r[0] for r in await conn.fetch("SELECT version_num FROM alembic_version")]
            columns = {
                r[0]
                for r in await conn.fetch(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'cameras'"
                )
            }
        finally:
            await conn.close()
        return versions, columns

    versions, columns = asyncio.run(schema())
    assert versions == ["0005"]
    assert {"worker_id", "lease_epoch", "status_seq"} <= columns
