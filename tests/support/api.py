"""The real app under uvicorn on 127.0.0.1, in the test's event loop: :class:`LiveApi` (a
client with logins per role) and the ``api`` / ``sqlite_api`` fixtures."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from beholder.config import Settings
from support.polling import eventually
from support.settings import ADMIN_PASSWORD, make_settings

__all__ = ["ADMIN_PASSWORD", "LiveApi", "live_api", "start_live_api", "stop_live_api"]


@dataclass
class LiveApi:
    """A real uvicorn serving the app on 127.0.0.1, in the test's event loop."""

    settings: Settings
    app: Any
    server: uvicorn.Server
    client: httpx.AsyncClient
    task: asyncio.Task[None]
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

    def client_from(self, address: str) -> httpx.AsyncClient:
        """A client whose requests come from ``address`` (a loopback address such as
        ``127.0.0.2``: Linux routes all of 127/8 to lo), so that the app sees another
        client address. The caller closes it."""
        transport = httpx.AsyncHTTPTransport(local_address=address)
        return httpx.AsyncClient(base_url=self.url, timeout=15, transport=transport)

    async def login(self, username: str, password: str) -> str:
        r = await self.client.post(
            "/api/auth/login", json={"username": username, "password": password}
        )
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
            "/api/api-keys",
            json={"name": f"k-{scope}-{uuid.uuid4().hex[:6]}", "scope": scope},
            headers=await self.headers("admin"),
        )
        assert r.status_code == 201, r.text
        key: str = r.json()["key"]
        return key


async def start_live_api(settings: Settings, **app_kwargs: Any) -> LiveApi:
    """Serve ``create_app(settings, **app_kwargs)`` on ``settings.port``; return once uvicorn
    has started (raises if it stops or takes more than 10 s)."""
    from beholder.api.app import create_app
    from beholder.server import uvicorn_config

    app = create_app(settings, **app_kwargs)
    config = uvicorn_config(app, settings)
    config.loop = "none"
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())

    def started() -> bool:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped during start-up")
        return bool(server.started)

    await eventually(started, 10, "uvicorn to start")
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}", timeout=15)
    return LiveApi(settings=settings, app=app, server=server, client=client, task=task)


async def stop_live_api(live: LiveApi) -> None:
    """Close the client and shut uvicorn (and with it the app) down within 15 s."""
    await live.client.aclose()
    live.server.should_exit = True
    await asyncio.wait_for(live.task, timeout=15)


@asynccontextmanager
async def live_api(settings: Settings, **app_kwargs: Any) -> AsyncIterator[LiveApi]:
    """``async with live_api(settings, **app_kwargs) as live``: :func:`start_live_api` and
    :func:`stop_live_api` around a block."""
    live = await start_live_api(settings, **app_kwargs)
    try:
        yield live
    finally:
        await stop_live_api(live)


@pytest.fixture
async def api(tmp_path: Path, database_url: str | None) -> AsyncIterator[LiveApi]:
    """The real app under uvicorn on SQLite and on PostgreSQL (parametrized)."""
    async with live_api(make_settings(tmp_path, database_url)) as live:
        yield live


@pytest.fixture
async def sqlite_api(tmp_path: Path) -> AsyncIterator[LiveApi]:
    """The real app under uvicorn on SQLite only (for tests not about the database)."""
    async with live_api(make_settings(tmp_path)) as live:
        yield live
