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

from beholder.config import Settings, WorkerSettings

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
        "worker": WorkerSettings(heartbeat_interval=0.5),
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


# --- rtsp fixtures ---
# Owner: worker ingest. A real RTSP camera (GStreamer RTSP server under /usr/bin/python3)
# and a worker harness on the in-memory bus. Tests using them are marked ``rtsp``.
import shutil as _rtsp_shutil  # noqa: E402
import time as _rtsp_time  # noqa: E402
from collections.abc import Callable as _RtspCallable  # noqa: E402

from fixtures.rtsp_server import MEDIA_DIR as RTSP_MEDIA_DIR  # noqa: E402
from fixtures.rtsp_server import SYSTEM_PYTHON, JunkServer, RtspServer  # noqa: E402


def _rtsp_available() -> bool:
    import subprocess

    try:
        subprocess.run(
            [
                SYSTEM_PYTHON,
                "-c",
                "import gi; gi.require_version('GstRtspServer', '1.0');"
                "from gi.repository import GstRtspServer",
            ],
            check=True,
            capture_output=True,
            timeout=20,
        )
        return True
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.fixture(scope="session")
def rtsp_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Copies of the test clips (never served from the read-only shared dir by path)."""
    out = tmp_path_factory.mktemp("rtsp-media")
    names = {
        "two": "headpose-two-faces.mp4",  # 2 faces, Constrained Baseline 12 fps, GOP 1 s
        "walk": "people-walking-one-by-one.mp4",  # Main with B-frames, 10 fps
        "street": "street-cars-no-faces.mp4",  # no faces, Baseline 12.5 fps, GOP 4.8 s, AAC
    }
    media: dict[str, Path] = {}
    for key, name in names.items():
        src = RTSP_MEDIA_DIR / name
        if not src.is_file():
            pytest.skip(f"test media missing: {src}")
        media[key] = Path(_rtsp_shutil.copy(src, out / name))
    return media


@pytest.fixture(scope="session")
def rtsp_server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[_RtspCallable[..., RtspServer]]:
    """``make(mounts, **kw) -> RtspServer`` (started); every server is stopped at the end."""
    if not _rtsp_available():
        pytest.skip("GStreamer RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0) missing")
    logs = tmp_path_factory.mktemp("rtsp-logs")
    servers: list[RtspServer] = []

    def make(mounts: dict[str, Path], **kw: Any) -> RtspServer:
        kw.setdefault("log_path", logs / f"server-{len(servers)}.log")
        server = RtspServer(mounts, **kw)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def rtsp_camera(
    rtsp_server_factory: _RtspCallable[..., RtspServer], rtsp_media: dict[str, Path]
) -> RtspServer:
    """One long-lived server with mounts ``two``, ``walk``, ``street``. Never kill it in a
    test: use :func:`rtsp_private_camera` for that."""
    return rtsp_server_factory(dict(rtsp_media))


@pytest.fixture
def rtsp_private_camera(
    rtsp_server_factory: _RtspCallable[..., RtspServer], rtsp_media: dict[str, Path]
) -> Iterator[RtspServer]:
    """A server of this test alone (mount ``two``): stop/restart/pause it freely."""
    server = rtsp_server_factory({"two": rtsp_media["two"]})
    yield server
    server.resume()
    server.stop()


@pytest.fixture
def rtsp_junk() -> Iterator[JunkServer]:
    """A TCP port that answers garbage instead of RTSP."""
    with JunkServer() as junk:
        yield junk


class WorkerHarness:
    """A :class:`WorkerManager` on a fresh in-memory bus, recording what it publishes."""

    def __init__(self, bus: Any, manager: Any) -> None:
        self.bus = bus
        self.manager = manager
        self.events: list[Any] = []
        self.alerts: list[Any] = []

    async def _on_status(self, msg: Any) -> None:
        from beholder.messages import StreamStatusEvent

        self.events.append(StreamStatusEvent.from_bytes(msg.data))

    async def _on_alert(self, msg: Any) -> None:
        from beholder.messages import FaceDetectionAlert

        self.alerts.append(FaceDetectionAlert.from_bytes(msg.data))

    async def send(self, kind: str, camera_id: str, payload: dict[str, Any] | None = None) -> None:
        from beholder.messages import CameraCommand, CommandType, Subjects

        cmd = CameraCommand(
            command_type=CommandType(kind), camera_id=camera_id, payload=payload or {}
        )
        await self.bus.publish(Subjects.CAMERA_COMMANDS, cmd.to_bytes())

    async def start_camera(self, camera_id: str, url: str, *, detect: bool = True) -> None:
        from beholder.messages import CameraSpec

        spec = CameraSpec(
            camera_id=camera_id, name=camera_id, rtsp_url=url, face_detection_enabled=detect
        )
        await self.send("START_STREAM", camera_id, spec.to_wire())

    def statuses(self, camera_id: str) -> list[Any]:
        return [e for e in self.events if e.camera_id == camera_id]

    def alerts_for(self, camera_id: str) -> list[Any]:
        return [a for a in self.alerts if a.camera_id == camera_id]

    async def wait_for(
        self,
        camera_id: str,
        status: str,
        *,
        timeout: float = 10.0,
        after: int = 0,
        where: _RtspCallable[[Any], bool] | None = None,
    ) -> Any:
        """First status event of ``camera_id`` with ``status`` at index >= ``after`` of
        :attr:`events`; fails the test after ``timeout`` seconds."""
        deadline = _rtsp_time.monotonic() + timeout
        while True:
            for e in self.events[after:]:
                if (
                    e.camera_id == camera_id
                    and e.status.value == status
                    and (where is None or where(e))
                ):
                    return e
            if _rtsp_time.monotonic() > deadline:
                seen = [(e.status.value, e.error_code, e.attempt) for e in self.statuses(camera_id)]
                raise AssertionError(f"{camera_id}: no {status} within {timeout}s; saw {seen}")
            await asyncio.sleep(0.05)


@pytest.fixture
async def worker_harness() -> AsyncIterator[_RtspCallable[..., Any]]:
    """``await make(**worker_settings) -> WorkerHarness`` with short timeouts for tests."""
    from beholder.bus import MemoryBus
    from beholder.messages import Subjects
    from beholder.worker.manager import WorkerManager

    made: list[WorkerHarness] = []

    async def make(**overrides: Any) -> WorkerHarness:
        base: dict[str, Any] = {
            "heartbeat_interval": 0.5,
            "stats_interval": 1.0,
            "stall_timeout": 2.5,
            "open_timeout": 4.0,
            "backoff_initial": 0.3,
            "backoff_max": 1.5,
            "stop_timeout": 2.0,
        }
        base.update(overrides)
        bus = MemoryBus()
        await bus.start()
        manager = WorkerManager(WorkerSettings(**base), bus, "test-worker")
        harness = WorkerHarness(bus, manager)
        await bus.subscribe(Subjects.STREAM_STATUS, harness._on_status)
        await bus.subscribe(Subjects.CAMERA_EVENTS, harness._on_alert)
        await manager.start()
        made.append(harness)
        return harness

    yield make
    for h in made:
        await h.manager.stop()
        await h.bus.close()


# --- end rtsp fixtures ---
