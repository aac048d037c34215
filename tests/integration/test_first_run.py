"""`beholder serve` on an empty data dir, second run, and the admin commands — as a user
would run them (real processes)."""

import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

from beholder.password_policy import check_password
from support.command import beholder_argv
from support.polling import wait_until
from support.settings import free_port

BEHOLDER = [sys.executable, "-m", "beholder"]


def _env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
    env.update(
        BEHOLDER_DATA_DIR=str(data_dir),
        BEHOLDER_PORT=str(port),
        BEHOLDER_RUN_WORKER="false",
        BEHOLDER_LOG_FORMAT="json",
        **extra,
    )
    return env


def _serve(data_dir: Path, port: int, **extra: str) -> tuple[subprocess.Popen[str], float]:
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [*BEHOLDER, "serve"],
        env=_env(data_dir, port, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )

    def ready() -> bool:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/system/ready", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        assert proc.poll() is None, "serve exited during start-up"
        return False

    try:
        wait_until(ready, 30, "serve to become ready", every=0.05)
    except AssertionError:
        proc.kill()
        raise
    return proc, time.monotonic() - t0


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    return out


def test_first_run_creates_everything_and_second_run_reuses_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    proc, _ = _serve(data, port)
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/api/cameras")
        assert r.status_code == 401
    finally:
        out = _stop(proc)
    match = re.search(r"created user 'admin' with password\s+(\S+)", out)
    assert match, out
    password = match.group(1)
    assert check_password(password) == password  # the generated one obeys the policy too
    secret = data / "secret.key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert (data / "beholder.db").exists()
    with sqlite3.connect(data / "beholder.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()
    first_secret = secret.read_text()

    proc, _ = _serve(data, port)
    try:
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/auth/login",
            json={"username": "admin", "password": password},
        )
        assert r.status_code == 200
    finally:
        out2 = _stop(proc)
    assert "created user 'admin'" not in out2
    assert secret.read_text() == first_secret


def test_admin_password_from_environment(tmp_path: Path) -> None:
    port = free_port()
    proc, _ = _serve(tmp_path / "d", port, BEHOLDER_ADMIN_PASSWORD="from-env-pass-1")
    try:
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/auth/login",
            json={"username": "admin", "password": "from-env-pass-1"},
        )
        assert r.status_code == 200
    finally:
        out = _stop(proc)
    assert "from-env-pass-1" not in out


def test_user_and_api_key_commands(tmp_path: Path) -> None:
    env = _env(tmp_path / "d", free_port())

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            beholder_argv(*args), env=env, capture_output=True, text=True, timeout=60
        )

    created = run("user", "create", "alice", "--role", "operator", "--password", "alice-pass-1")
    assert created.returncode == 0, created.stderr
    assert "alice\toperator\tactive" in run("user", "list").stdout
    taken = run("user", "create", "alice", "--password", "another-long-pass")
    assert taken.returncode == 1 and "already exists" in taken.stderr
    weak = run("user", "create", "weak", "--password", "a")
    assert weak.returncode == 1 and "at least 12 characters" in weak.stderr, weak.stderr
    common = run("user", "set-password", "alice", "--password", "Password1234")
    assert common.returncode == 1 and "too common" in common.stderr, common.stderr
    assert "weak" not in run("user", "list").stdout
    pw = run("user", "set-password", "alice")
    assert pw.returncode == 0 and "password: " in pw.stdout
    assert run("user", "disable", "alice").returncode == 0
    assert "alice\toperator\tdisabled" in run("user", "list").stdout
    assert run("user", "disable", "nobody").returncode == 1

    key = run("api-key", "create", "phone", "--scope", "mobile")
    assert key.returncode == 0
    full = re.search(r"key: (bhk_\S+)", key.stdout)
    assert full
    key_id = re.search(r"\(([0-9a-f-]{36})\)", key.stdout).group(1)  # type: ignore[union-attr]
    listed = run("api-key", "list").stdout
    assert "phone\tmobile" in listed and full.group(1) not in listed
    assert run("api-key", "revoke", key_id).returncode == 0
    assert "revoked" in run("api-key", "list").stdout
    bad = run("api-key", "create", "x", "--scope", "root")
    assert bad.returncode == 2


def test_weak_admin_password_or_secret_key_fails_start_up_naming_the_variable(
    tmp_path: Path,
) -> None:
    """Finding 10: `serve` refuses a weak BEHOLDER_ADMIN_PASSWORD or a BEHOLDER_SECRET_KEY
    under 32 bytes with one line naming the variable (and never echoing the value)."""
    for variable, value, reason in [
        ("BEHOLDER_ADMIN_PASSWORD", "admin", "at least 12 characters"),
        ("BEHOLDER_ADMIN_PASSWORD", "administrator1", "too common"),
        ("BEHOLDER_SECRET_KEY", "short-secret", "at least 32 bytes"),
    ]:
        done = subprocess.run(
            [*BEHOLDER, "serve"],
            env=_env(tmp_path / "d", free_port(), **{variable: value}),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"beholder: invalid setting {variable}=<hidden>: "), lines
        assert reason in lines[0] and value not in lines[0], lines[0]
    assert not (tmp_path / "d").exists()  # refused before anything was created
