"""Start-up and shutdown clean up after themselves (issue 8, item 5).

Each start-up step is made to fail in turn; start-up then raises ``StartupFailed`` naming the
step and leaves nothing behind: no thread, child process, socket, open file or file lock of
the data dir, and no asyncio task. A real ``beholder serve`` exits 1 with one error line and
leaves nothing behind, and a clean SIGTERM shutdown exits 0 and leaves nothing behind.

Not counted as leaks: the event loop's default executor threads (``asyncio_*``, owned and
joined by the loop) and multiprocessing's resource tracker process (started once per
process by the first detector child and kept by the standard library until exit).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import structlog.testing

from beholder.api.app import create_app
from beholder.api.lifecycle import StartupFailed
from beholder.config import Settings
from support.polling import eventually, wait_until
from support.settings import TEST_CAMERA_NETWORKS, make_camera_settings

ADMIN_PASSWORD = "admin-password-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "admin_password": ADMIN_PASSWORD,
        "run_worker": True,
        "health_interval": 0.5,
        "log_format": "json",
        "port": _free_port(),
        "camera": make_camera_settings(),
    }
    base.update(overrides)
    return Settings(**base)


# -- what a process holds --------------------------------------------------------------------


def _is_resource_tracker(proc: psutil.Process) -> bool:
    try:
        return any("resource_tracker" in part for part in proc.cmdline())
    except psutil.Error:
        return True  # gone already


def _file_locks(pid: int) -> list[str]:
    with open("/proc/locks") as f:
        return [line.strip() for line in f if line.split()[4:5] == [str(pid)]]


@dataclass(frozen=True)
class Holdings:
    """What this process holds that a service could have left behind."""

    threads: frozenset[int]
    children: frozenset[int]
    sockets: frozenset[tuple[Any, ...]]
    data_files: frozenset[str]
    locks: frozenset[str]
    tasks: frozenset[asyncio.Task[Any]]

    @classmethod
    def now(cls, data_dir: Path) -> Holdings:
        me = psutil.Process()
        prefix = str(data_dir.resolve())
        current = asyncio.current_task()
        return cls(
            threads=frozenset(
                t.ident or 0
                for t in threading.enumerate()
                if not t.name.startswith("asyncio_")  # the loop's default executor
            ),
            children=frozenset(
                p.pid for p in me.children(recursive=True) if not _is_resource_tracker(p)
            ),
            sockets=frozenset(
                (c.fd, c.family, c.type, c.laddr, c.raddr) for c in me.net_connections("all")
            ),
            data_files=frozenset(f.path for f in me.open_files() if f.path.startswith(prefix)),
            locks=frozenset(_file_locks(me.pid)),
            tasks=frozenset(t for t in asyncio.all_tasks() if t is not current),
        )

    def leaked_since(self, before: Holdings) -> dict[str, Any]:
        out = {
            "threads": [
                t.name
                for t in threading.enumerate()
                if (t.ident or 0) in self.threads - before.threads
            ],
            "children": sorted(self.children - before.children),
            "sockets": sorted(map(str, self.sockets - before.sockets)),
            "data_files": sorted(self.data_files),
            "locks": sorted(self.locks - before.locks),
            "tasks": sorted(t.get_name() for t in self.tasks - before.tasks),
        }
        return {k: v for k, v in out.items() if v}


async def _settled(before: Holdings, data_dir: Path) -> dict[str, Any]:
    """Leaks after giving threads and child processes a bounded time to finish exiting
    (a joined thread may still be listed for an instant; a killed child needs reaping)."""
    with contextlib.suppress(AssertionError):
        await eventually(
            lambda: not Holdings.now(data_dir).leaked_since(before), 10, "everything released"
        )
    return Holdings.now(data_dir).leaked_since(before)


# -- every step fails in turn (in process) ---------------------------------------------------


def _fail_after(cls: Any, name: str) -> Callable[[pytest.MonkeyPatch], None]:
    """Patch ``cls.name`` to do its real work and then fail: the step's own partial work
    must be undone too."""

    def patch(monkeypatch: pytest.MonkeyPatch) -> None:
        original = getattr(cls, name)

        async def failing(self: Any, *args: Any, **kwargs: Any) -> Any:
            await original(self, *args, **kwargs)
            raise RuntimeError(f"injected failure in {cls.__name__}.{name}")

        monkeypatch.setattr(cls, name, failing)

    return patch


def _fail(target: Any, name: str) -> Callable[[pytest.MonkeyPatch], None]:
    def patch(monkeypatch: pytest.MonkeyPatch) -> None:
        async def failing(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"injected failure in {name}")

        monkeypatch.setattr(target, name, failing)

    return patch


def _steps() -> Iterator[Any]:
    from beholder.api import lifecycle
    from beholder.api.events import EventConsumers
    from beholder.bus.memory import MemoryBus
    from beholder.health import HealthChecker
    from beholder.realtime.hub import Hub
    from beholder.worker.egress.hub import EgressHub
    from beholder.worker.manager import WorkerManager

    yield pytest.param("migrations", _fail(lifecycle, "upgrade_async"), id="migrations")
    yield pytest.param("database", _fail(lifecycle, "ensure_admin"), id="database")
    yield pytest.param("bus", _fail_after(MemoryBus, "start"), id="bus")
    yield pytest.param("hub", _fail_after(Hub, "start"), id="hub")
    yield pytest.param("bus consumers", _fail_after(EventConsumers, "start"), id="consumers")
    yield pytest.param("worker", _fail_after(WorkerManager, "start"), id="worker")
    yield pytest.param("live-view egress", _fail_after(EgressHub, "start"), id="egress")
    yield pytest.param("health checker", _fail_after(HealthChecker, "check_now"), id="health")


@pytest.mark.parametrize(("step", "inject"), list(_steps()))
async def test_a_failing_step_undoes_the_steps_before_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    inject: Callable[[pytest.MonkeyPatch], None],
) -> None:
    settings = _settings(tmp_path)
    before = Holdings.now(settings.data_dir)
    inject(monkeypatch)
    app = create_app(settings)
    with pytest.raises(StartupFailed) as info:
        async with app.router.lifespan_context(app):
            pytest.fail("start-up should have failed")
    assert info.value.step == step
    assert "injected failure" in str(info.value) and "\n" not in str(info.value)
    assert await _settled(before, settings.data_dir) == {}


async def test_unusable_data_dir_fails_the_first_step(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data dir should be")
    settings = _settings(tmp_path)
    app = create_app(settings)
    with pytest.raises(StartupFailed) as info:
        async with app.router.lifespan_context(app):
            pytest.fail("start-up should have failed")
    assert info.value.step == "data directory"


async def test_unreachable_database_fails_the_database_step(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    settings = _settings(
        tmp_path, database_url=f"postgresql+asyncpg://beholder@127.0.0.1:{port}/beholder"
    )
    before = Holdings.now(settings.data_dir)
    app = create_app(settings, migrate=False)
    with pytest.raises(StartupFailed) as info:
        async with app.router.lifespan_context(app):
            pytest.fail("start-up should have failed")
    assert info.value.step == "database"
    assert await _settled(before, settings.data_dir) == {}


async def test_clean_shutdown_leaves_nothing_behind(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    before = Holdings.now(settings.data_dir)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        state = app.state.beholder
        assert state.worker is not None and state.egress is not None
        assert Holdings.now(settings.data_dir).data_files  # the database is open
    assert await _settled(before, settings.data_dir) == {}


async def test_a_failing_stop_is_logged_and_the_others_still_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from beholder.realtime.hub import Hub

    original_close = Hub.close

    async def broken_close(self: Hub) -> None:
        raise RuntimeError("injected failure in Hub.close")

    monkeypatch.setattr(Hub, "close", broken_close)
    settings = _settings(tmp_path, run_worker=False)
    before = Holdings.now(settings.data_dir)
    app = create_app(settings)
    with structlog.testing.capture_logs() as logs:
        async with app.router.lifespan_context(app):
            hub = app.state.beholder.hub
    failures = [e for e in logs if e["event"] == "service failed to stop"]
    assert [e["service"] for e in failures] == ["hub"]
    assert failures[0]["exc_info"] is True and failures[0]["log_level"] == "error"
    assert any(e["event"] == "api stopped" for e in logs)  # the others went on
    leaked = Holdings.now(settings.data_dir).leaked_since(before)
    assert leaked == {"tasks": ["hub-heartbeat"]}  # only what the broken close left
    await original_close(hub)
    assert await _settled(before, settings.data_dir) == {}


# -- a real `beholder serve` -----------------------------------------------------------------


def _serve_env(data_dir: Path, port: int, mark: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
    env.update(
        BEHOLDER_DATA_DIR=str(data_dir),
        BEHOLDER_PORT=str(port),
        BEHOLDER_LOG_FORMAT="json",
        BEHOLDER_ADMIN_PASSWORD=ADMIN_PASSWORD,
        BEHOLDER_TEST_MARK=mark,
        BEHOLDER_CAMERA_NETWORKS=TEST_CAMERA_NETWORKS,
        **extra,
    )
    return env


def _marked(mark: str) -> list[psutil.Process]:
    """Every live process started with ``BEHOLDER_TEST_MARK=mark`` (children inherit it)."""
    out = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("BEHOLDER_TEST_MARK") == mark and proc.status() != "zombie":
                out.append(proc)
        except psutil.Error:
            continue
    return out


def _assert_nothing_left(mark: str, port: int, data_dir: Path) -> None:
    with contextlib.suppress(AssertionError):
        wait_until(lambda: not _marked(mark), 10, "every process of the run to exit", every=0.05)
    left = [(p.pid, p.cmdline()) for p in _marked(mark)]
    assert not left, left
    with socket.socket() as s:  # the port is free again
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
    db = data_dir / "beholder.db"
    if db.exists():  # no lock on the database
        with sqlite3.connect(db, timeout=0) as conn:
            conn.execute("BEGIN EXCLUSIVE")
            conn.rollback()


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if '"level": "error"' in line]


@pytest.mark.parametrize(
    ("step", "env"),
    [
        pytest.param("bus", {"BEHOLDER_BUS_URL": "nats://127.0.0.1:{port}"}, id="bus"),
        pytest.param(
            "migrations",
            {"BEHOLDER_DATABASE_URL": "postgresql+asyncpg://beholder@127.0.0.1:{port}/beholder"},
            id="database",
        ),
    ],
)
def test_serve_with_an_unreachable_service_exits_1_with_one_line(
    tmp_path: Path, step: str, env: dict[str, str]
) -> None:
    port, dead_port, mark = _free_port(), _free_port(), uuid.uuid4().hex
    data_dir = tmp_path / "data"
    extra = {k: v.format(port=dead_port) for k, v in env.items()}
    proc = subprocess.run(
        [sys.executable, "-m", "beholder", "serve"],
        env=_serve_env(data_dir, port, mark, **extra),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    errors = _error_lines(proc.stderr)
    assert len(errors) == 1, errors
    assert '"event": "start-up failed"' in errors[0] and f'"step": "{step}"' in errors[0]
    assert "Traceback" not in proc.stderr
    _assert_nothing_left(mark, port, data_dir)


def test_serve_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port, mark = _free_port(), uuid.uuid4().hex
    data_dir = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "beholder", "serve"],
        env=_serve_env(data_dir, port, mark, BEHOLDER_RUN_WORKER="true"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def ready() -> bool:
            assert proc.poll() is None, "serve exited during start-up"
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/system/ready").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, 60, "serve to be ready", every=0.05)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    assert _error_lines(stderr) == []
    assert '"event": "api stopped"' in stderr
    _assert_nothing_left(mark, port, data_dir)


def test_sigterm_during_start_up_undoes_it(tmp_path: Path) -> None:
    """A signal while a step waits (here the bus: nothing answers, 5 s budget) stops at once."""
    port, dead_port, mark = _free_port(), _free_port(), uuid.uuid4().hex
    data_dir = tmp_path / "data"
    env = _serve_env(data_dir, port, mark, BEHOLDER_BUS_URL=f"nats://127.0.0.1:{dead_port}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "beholder", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # the admin exists once the database step is done: the bus step is next
        wait_until(lambda: (data_dir / "secret.key").exists(), 30, "start-up to begin")
        wait_until(lambda: _admin_created(data_dir / "beholder.db"), 30, "the database step")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, stderr[-3000:]
    assert '"event": "start-up interrupted by a signal; stopped"' in stderr
    assert _error_lines(stderr) == []
    _assert_nothing_left(mark, port, data_dir)


def _admin_created(db: Path) -> bool:
    if not db.exists():
        return False
    try:
        with sqlite3.connect(db, timeout=0.1) as conn:
            return bool(conn.execute("SELECT count(*) FROM users").fetchone()[0])
    except sqlite3.Error:
        return False
