"""Secrets from files through the real ``beholder serve`` (issue 14, item 2).

A run with every secret given as ``BEHOLDER_<NAME>_FILE`` (secret key, admin password,
database URL on SQLite and on PostgreSQL, metrics token, TURN password, and the NATS
password of a real ``nats-server``) signs in with the password from the file; then the full
debug-level logs (stdout and stderr) and the JSON of every ``/api/system/*`` endpoint are
searched for each secret's value, and none is found. Both ``X`` and ``X_FILE`` set, or a
missing file, stop the command with exit code 2 and one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from beholder.api.routers.system import router as system_router
from beholder.health import SERVICES
from support.nats import NatsServer
from support.polling import wait_until
from support.settings import TEST_CAMERA_NETWORKS, free_port

BUS_USER = "beholder-bus"


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}


def _secrets(database_url: str, bus_password: str) -> dict[str, str]:
    """A distinct, recognisable value per secret variable."""
    tag = uuid.uuid4().hex[:10]
    return {
        "BEHOLDER_SECRET_KEY": f"sk-{tag}-" + "q" * 40,
        "BEHOLDER_ADMIN_PASSWORD": f"admin phrase {tag} from a file",
        "BEHOLDER_DATABASE_URL": database_url,
        "BEHOLDER_METRICS_TOKEN": f"metrics-{tag}-token",
        "BEHOLDER_WEBRTC_TURN_PASSWORD": f"turn-{tag}-password",
        "BEHOLDER_BUS_PASSWORD": bus_password,
    }


def _system_paths() -> list[str]:
    """Every GET path of ``/api/system`` (parameters filled with each service)."""
    paths: list[str] = []
    for route in system_router.routes:
        path = getattr(route, "path", "")
        if "GET" not in getattr(route, "methods", set()):
            continue
        if "{service}" in path:
            paths += [path.replace("{service}", s) for s in SERVICES]
        else:
            paths.append(path)
    return paths


@pytest.mark.timeout(180)
async def test_every_secret_from_a_file_works_and_is_never_shown(
    tmp_path: Path,
    database_url: str | None,
    nats_server: Callable[[str], NatsServer],
) -> None:
    bus_password = f"bus-{uuid.uuid4().hex}"
    server = nats_server(f'authorization {{ user: "{BUS_USER}", password: "{bus_password}" }}')
    url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'elsewhere' / 'beholder.db'}"
    (tmp_path / "elsewhere").mkdir()
    secrets = _secrets(url, bus_password)
    secret_dir = tmp_path / "run-secrets"
    secret_dir.mkdir()
    port = free_port()
    env = _clean_env()
    env.update(
        BEHOLDER_DATA_DIR=str(tmp_path / "data"),
        BEHOLDER_PORT=str(port),
        BEHOLDER_LOG_LEVEL="DEBUG",
        BEHOLDER_LOG_FORMAT="json",
        BEHOLDER_CAMERA_NETWORKS=TEST_CAMERA_NETWORKS,
        BEHOLDER_BUS_URL=server.url,
        BEHOLDER_BUS_USER=BUS_USER,
        BEHOLDER_WEBRTC_TURN_USERNAME="turn-user",
        BEHOLDER_METRICS_ALLOW="[]",
    )
    for variable, value in secrets.items():
        path = secret_dir / variable.lower()
        path.write_text(value + "\n")  # as `echo value > file` or a Kubernetes secret
        env[f"{variable}_FILE"] = str(path)
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    base = f"http://127.0.0.1:{port}"
    shown: dict[str, str] = {}
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "beholder", "serve"], env=env, stdout=stdout, stderr=stderr
        )
        try:

            def ready() -> bool:
                assert proc.poll() is None, err.read_text()[-3000:]
                try:
                    return httpx.get(f"{base}/api/system/ready").status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(ready, 90, "serve to be ready", every=0.1)
            with httpx.Client(base_url=base, timeout=15) as client:
                login = client.post(
                    "/api/auth/login",
                    json={"username": "admin", "password": secrets["BEHOLDER_ADMIN_PASSWORD"]},
                )
                assert login.status_code == 200, login.text
                admin = {"Authorization": f"Bearer {login.json()['accessToken']}"}
                wrong = client.post(
                    "/api/auth/login", json={"username": "admin", "password": "not-the-file-one"}
                )
                assert wrong.status_code == 401
                for path in _system_paths():
                    for headers in (admin, {}):  # as an admin (all details) and anonymous
                        r = client.get(path, headers=headers)
                        assert r.status_code in (200, 401, 503), (path, r.status_code)
                        shown[f"{path} {bool(headers)}"] = r.text
                bus = client.get("/api/system/health/bus", headers=admin).json()
                assert bus["status"] == "HEALTHY", bus  # the NATS password from the file works
                token = secrets["BEHOLDER_METRICS_TOKEN"]
                metrics = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
                assert metrics.status_code == 200
                assert client.get("/metrics").status_code == 401
                shown["/metrics"] = metrics.text
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    logs = out.read_text() + err.read_text()
    assert '"level": "debug"' in logs, "the run logged at debug level"
    assert len(logs.splitlines()) > 20, logs
    for variable, value in secrets.items():
        assert value not in logs, f"{variable} found in the logs"
        for where, text in shown.items():
            assert value not in text, f"{variable} found in {where}"
    assert len(shown) >= len(SERVICES) * 2 + 6


def _run(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = _clean_env()
    env.update(BEHOLDER_DATA_DIR=str(tmp_path / "data"), **variables)
    return subprocess.run(
        [sys.executable, "-m", "beholder", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_both_a_secret_and_its_file_stop_start_up_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("k" * 40)
    proc = _run(tmp_path, BEHOLDER_SECRET_KEY="k" * 40, BEHOLDER_SECRET_KEY_FILE=str(path))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "beholder: invalid setting BEHOLDER_SECRET_KEY_FILE: BEHOLDER_SECRET_KEY is also set; "
        "set one of them"
    ]
    assert proc.stdout == ""
    assert not (tmp_path / "data").exists()


def test_a_missing_secret_file_stops_start_up_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "absent" / "bus-password"
    proc = _run(
        tmp_path,
        BEHOLDER_BUS_URL="nats://127.0.0.1:4222",
        BEHOLDER_BUS_USER="u",
        BEHOLDER_BUS_PASSWORD_FILE=str(path),
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"beholder: invalid setting BEHOLDER_BUS_PASSWORD_FILE={path}: cannot read the file "
        "(No such file or directory)"
    ]
    assert not (tmp_path / "data").exists()


def test_a_database_password_from_a_file_is_not_shown_when_the_database_is_down(
    tmp_path: Path,
) -> None:
    password = f"db-{uuid.uuid4().hex}"
    path = tmp_path / "database-url"
    path.write_text(f"postgresql+asyncpg://beholder:{password}@127.0.0.1:{free_port()}/b\n")
    proc = _run(tmp_path, BEHOLDER_DATABASE_URL_FILE=str(path), BEHOLDER_LOG_LEVEL="DEBUG")
    assert proc.returncode == 1, proc.stderr  # the database (migrations) step fails
    assert "start-up failed" in proc.stderr
    assert password not in proc.stdout + proc.stderr
