"""Shared fixtures. Each block belongs to one part of the suite."""

from __future__ import annotations

# --- api fixtures ---
import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from beholder.config import Settings

PG_ADMIN_URL = os.environ.get("BEHOLDER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
ADMIN_PASSWORD = "admin-password-1"
MEDIA_DIR = Path(__file__).resolve().parents[2] / "shared" / "media"
if not MEDIA_DIR.is_dir():
    MEDIA_DIR = Path("/work/shared/media")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


_PG_TEMPLATE = "beholder_tpl_" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database; each test clones it (fast, isolated)."""
    if not _pg_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    import asyncpg

    from beholder.db.migrate import upgrade

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def create() -> None:
        asyncio.run(admin(f'CREATE DATABASE "{_PG_TEMPLATE}"'))
        upgrade(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{_PG_TEMPLATE}")

    # Fixtures may be set up while an event loop runs in this thread: use another one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(create).result()
    yield _PG_TEMPLATE
    with ThreadPoolExecutor(1) as pool:
        pool.submit(
            asyncio.run, admin(f'DROP DATABASE IF EXISTS "{_PG_TEMPLATE}" WITH (FORCE)')
        ).result()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str | None]:
    """Run the test on SQLite (embedded default) and on the real PostgreSQL."""
    if request.param == "sqlite":
        yield None
        return
    template = request.getfixturevalue("pg_template")
    import asyncpg

    name = "beholder_t_" + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def make_settings(tmp_path: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    """Test settings: temp data dir, known admin password, generous rate limits."""
    base: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "admin_password": ADMIN_PASSWORD,
        "run_worker": False,
        "health_interval": 0.5,
        "worker_heartbeat_interval": 0.5,
        "rate_limit_per_ip": "100000/minute",
        "rate_limit_per_principal": "100000/minute",
        "rate_limit_login": "1000/minute",
        "log_format": "json",
        "port": free_port(),
    }
    base.update(overrides)
    return Settings(**base)


@dataclass
class LiveApi:
    """A real uvicorn serving the app on 127.0.0.1, in the test's event loop."""

    settings: Settings
    app: Any
    server: uvicorn.Server
    client: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.settings.port}/ws"

    @property
    def state(self) -> Any:
        return self.app.state.beholder

    async def login(self, username: str, password: str) -> str:
        r = await self.client.post("/api/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        token: str = r.json()["accessToken"]
        return token

    async def token(self, role: str) -> str:
        """Access token of a user with ``role`` (created on first use)."""
        if role not in self.tokens:
            if role == "admin":
                self.tokens[role] = await self.login("admin", ADMIN_PASSWORD)
            else:
                admin = await self.token("admin")
                r = await self.client.post(
                    "/api/users",
                    json={"username": f"{role}1", "password": f"{role}-password-1", "role": role},
                    headers={"Authorization": f"Bearer {admin}"},
                )
                assert r.status_code == 201, r.text
                self.tokens[role] = await self.login(f"{role}1", f"{role}-password-1")
        return self.tokens[role]

    async def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(role)}"}

    async def api_key(self, scope: str = "ml-service") -> str:
        r = await self.client.post(
            "/api/api-keys", json={"name": f"k-{scope}-{uuid.uuid4().hex[:6]}", "scope": scope},
            headers=await self.headers("admin"),
        )
        assert r.status_code == 201, r.text
        key: str = r.json()["key"]
        return key


async def start_live_api(settings: Settings, **app_kwargs: Any) -> LiveApi:
    from beholder.api.app import create_app
    from beholder.server import uvicorn_config

    app = create_app(settings, **app_kwargs)
    config = uvicorn_config(app, settings)
    config.loop = "none"
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    for _ in range(400):
        if server.started:
            break
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped during start-up")
        await asyncio.sleep(0.025)
    else:
        raise RuntimeError("uvicorn did not start")
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}", timeout=15)
    live = LiveApi(settings=settings, app=app, server=server, client=client)
    live._task = task  # type: ignore[attr-defined]
    return live


async def stop_live_api(live: LiveApi) -> None:
    await live.client.aclose()
    live.server.should_exit = True
    await asyncio.wait_for(live._task, timeout=15)  # type: ignore[attr-defined]


@pytest.fixture
async def api(tmp_path: Path, database_url: str | None) -> AsyncIterator[LiveApi]:
    """The real app under uvicorn on SQLite and on PostgreSQL (parametrized)."""
    live = await start_live_api(make_settings(tmp_path, database_url))
    try:
        yield live
    finally:
        await stop_live_api(live)


@pytest.fixture
async def sqlite_api(tmp_path: Path) -> AsyncIterator[LiveApi]:
    """The real app under uvicorn on SQLite only (for tests not about the database)."""
    live = await start_live_api(make_settings(tmp_path))
    try:
        yield live
    finally:
        await stop_live_api(live)


# --- end api fixtures ---
