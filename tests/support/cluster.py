"""A private distributed Beholder for tests that stop its parts: PostgreSQL (``initdb`` +
``pg_ctl`` from the system's PostgreSQL 15, as the ``postgres`` user when run as root), a
``nats-server -js`` on a free port, and ``beholder api`` + ``beholder worker`` processes.

Never the machine's shared PostgreSQL or NATS: a test here stops and restarts its own."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from support.polling import wait_until
from support.settings import ADMIN_PASSWORD, TEST_CAMERA_NETWORKS, free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


class PrivatePostgres:
    """A PostgreSQL cluster of one test in a temp dir (trust auth, user ``postgres``,
    listening on 127.0.0.1:``port`` and a socket in its dir). :meth:`stop` is a fast
    shutdown (clients are cut at once), :meth:`start` brings it back on the same port."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            pytest.skip("PostgreSQL 15 server binaries not installed")
        self.root = Path(tempfile.mkdtemp(prefix="beholder-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-N"
        )

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        cmd = list(argv)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off"
        )
        pg_ctl = str(PG_BIN / "pg_ctl")
        self._run(pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w", "-o", options, "start")

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateNats:
    """``nats-server -js`` of one test on a free port; :meth:`stop`/:meth:`start` keep the
    port (clients reconnect to the same URL)."""

    def __init__(self) -> None:
        if not Path(NATS_SERVER).exists():
            pytest.skip("nats-server not installed")
        self.root = Path(tempfile.mkdtemp(prefix="beholder-nats-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        with (self.root / "nats.log").open("ab") as out:
            argv = [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(self.port)]
            self.proc = subprocess.Popen(
                [*argv, "-sd", str(self.root / "js")],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until(lambda: _listening(self.port), 10, "nats-server to listen", every=0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Role:
    """A ``beholder <role>`` process and its log file (JSON lines)."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def events(self, event: str) -> list[dict[str, Any]]:
        """The log records whose ``event`` is ``event``."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("event") == event:
                found.append(record)
        return found


@dataclass
class Cluster:
    """``beholder api`` (:attr:`base_url`) and ``beholder worker`` over :attr:`pg` and
    :attr:`nats`; the api's data dir (snapshots) is :attr:`data_dir`."""

    pg: PrivatePostgres
    nats: PrivateNats
    data_dir: Path
    port: int
    roles: list[Role] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
        env.update(
            {
                "BEHOLDER_DATA_DIR": str(self.data_dir),
                "BEHOLDER_DATABASE_URL": self.pg.url,
                "BEHOLDER_BUS_URL": self.nats.url,
                "BEHOLDER_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "BEHOLDER_HEALTH_INTERVAL": "0.5",
                "BEHOLDER_WORKER_HEARTBEAT_INTERVAL": "0.5",
                "BEHOLDER_CAMERA_NETWORKS": TEST_CAMERA_NETWORKS,
                "BEHOLDER_RATE_LIMIT_PER_IP": "100000/minute",
                "BEHOLDER_RATE_LIMIT_PER_PRINCIPAL": "100000/minute",
                "BEHOLDER_RATE_LIMIT_LOGIN": "1000/minute",
                "BEHOLDER_LOG_FORMAT": "json",
            }
        )
        env.update(extra)
        return env

    def spawn(self, name: str, *argv: str, **env: str) -> Role:
        log = self.data_dir.parent / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "beholder", *argv],
                env=self.env(**env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        role = Role(name, proc, log)
        self.roles.append(role)
        return role

    def stop(self) -> None:
        for role in reversed(self.roles):
            role.stop()


def start_cluster(tmp_path: Path, **worker_env: str) -> Cluster:
    """PostgreSQL and NATS started, then the api and one worker (``worker_env``: extra
    ``BEHOLDER_*`` variables of the worker). The caller waits for readiness."""
    pg = PrivatePostgres()
    nats = PrivateNats()
    pg.start()
    nats.start()
    cluster = Cluster(pg=pg, nats=nats, data_dir=tmp_path / "data", port=free_port())
    cluster.spawn("api", "api", "--host", "127.0.0.1", "--port", str(cluster.port))
    cluster.spawn("worker", "worker", "--worker-id", "degrade-1", **worker_env)
    return cluster


def destroy_cluster(cluster: Cluster) -> None:
    cluster.stop()
    cluster.nats.destroy()
    cluster.pg.destroy()
