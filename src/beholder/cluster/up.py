"""``beholder cluster up``: start NATS (or use one), PostgreSQL's database, apis, workers and
the load balancer; supervise them until Ctrl-C/SIGTERM, then stop them in reverse order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from beholder.cluster import database, nats_server, proxy
from beholder.cluster.processes import (
    Child,
    ChildSpec,
    Supervisor,
    free_port,
    wait_listening,
    wait_logged,
)
from beholder.cluster.state import ClusterState, RoleState, read_state

START_TIMEOUT = 60.0
WORKER_RUNNING = "worker running"  # the worker's log event once it takes cameras
RESTART_DELAY = 1.0


@dataclass(frozen=True)
class UpOptions:
    """``cluster up``'s arguments: ``apis``/``workers`` counts, the load balancer's ``port``,
    ``data_dir``, ``database_url`` (None: the local default), ``nats_url`` (None: start our
    own), ``restart`` dead apis/workers, ``python`` that runs ``-m beholder``."""

    apis: int
    workers: int
    port: int
    data_dir: Path
    database_url: str | None = None
    nats_url: str | None = None
    restart: bool = False
    python: str = sys.executable


class ClusterUp:
    """One run of ``cluster up`` (see :func:`run_up`)."""

    def __init__(self, options: UpOptions) -> None:
        self.o = options
        self.data_dir = options.data_dir.resolve()
        self.logs = self.data_dir / "logs"
        self.supervisor = Supervisor()
        self.stopping = threading.Event()
        self.revive = threading.Event()  # SIGUSR1: start dead apis and workers again now
        self.nats_url = ""
        self.database_url = (
            options.database_url
            or os.environ.get("BEHOLDER_DATABASE_URL")
            or database.DEFAULT_DATABASE_URL
        )
        self.first_run_password: str | None = None

    # -- start-up ----------------------------------------------------------------------------
    def _refuse_second_instance(self) -> None:
        try:
            previous = read_state(self.data_dir)
        except (FileNotFoundError, ValueError):
            return
        if previous.supervisor_pid != os.getpid() and _pid_alive(previous.supervisor_pid):
            raise RuntimeError(
                f"a cluster already runs from {self.data_dir} (pid {previous.supervisor_pid})"
            )

    def _base_env(self) -> dict[str, str]:
        from beholder.auth.passwords import generate_password
        from beholder.auth.tokens import load_or_create_secret

        env = dict(os.environ)
        password = env.get("BEHOLDER_ADMIN_PASSWORD") or generate_password()
        if not env.get("BEHOLDER_ADMIN_PASSWORD"):
            self.first_run_password = password  # printed only if no user exists yet
        env.update(
            {
                "BEHOLDER_DATA_DIR": str(self.data_dir),
                "BEHOLDER_DATABASE_URL": self.database_url,
                "BEHOLDER_BUS_URL": self.nats_url,
                "BEHOLDER_SECRET_KEY": load_or_create_secret(self.data_dir / "secret.key"),
                "BEHOLDER_ADMIN_PASSWORD": password,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.setdefault("BEHOLDER_LOG_FORMAT", "json")
        return env

    def _start_nats(self) -> None:
        given = self.o.nats_url
        if given and nats_server.reachable(given):
            self.nats_url = given
            return
        port = nats_server.local_port_for(given, free_port())
        store = self.data_dir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        spec = ChildSpec(
            "nats", "nats", nats_server.nats_argv(port, store), dict(os.environ),
            self.logs / "nats.log", port=port,
        )  # fmt: skip
        wait_listening(port, START_TIMEOUT, self.supervisor.start(spec))
        self.nats_url = f"nats://127.0.0.1:{port}"

    def _migrate(self, env: dict[str, str]) -> None:
        log = self.logs / "migrate.log"
        with log.open("ab") as out:
            done = subprocess.run(  # noqa: S603 - ourselves
                [self.o.python, "-m", "beholder", "migrate"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=300,
            )
        if done.returncode != 0:
            raise RuntimeError(f"migrations failed (exit {done.returncode}): see {log}")

    def _start_apis(self, env: dict[str, str]) -> list[Child]:
        apis = []
        for i in range(1, self.o.apis + 1):
            port = free_port()
            argv = [self.o.python, "-m", "beholder", "api", "--host", "127.0.0.1"]
            child_env = {**env, "BEHOLDER_HOST": "127.0.0.1", "BEHOLDER_PORT": str(port)}
            # nginx in front (127.0.0.1) forwards each browser's address.
            child_env.setdefault("BEHOLDER_TRUSTED_PROXIES", "127.0.0.1")
            spec = ChildSpec(
                f"api-{i}", "api", [*argv, "--port", str(port)], child_env,
                self.logs / f"api-{i}.log", port=port,
            )  # fmt: skip
            apis.append(self.supervisor.start(spec))
            if i == 1:  # the first creates the admin user alone; the others start together
                wait_listening(port, START_TIMEOUT, apis[0])
        for api in apis[1:]:
            assert api.spec.port is not None
            wait_listening(api.spec.port, START_TIMEOUT, api)
        return apis

    def _start_workers(self, env: dict[str, str]) -> None:
        # Announced only once every worker runs: a camera started before would wait for one.
        workers: list[Child] = []
        for i in range(1, self.o.workers + 1):
            name = f"worker-{i}"
            argv = [self.o.python, "-m", "beholder", "worker", "--worker-id", name]
            spec = ChildSpec(name, "worker", argv, env, self.logs / f"{name}.log", worker_id=name)
            workers.append(self.supervisor.start(spec))
        for worker in workers:
            wait_logged(worker, WORKER_RUNNING, START_TIMEOUT)

    def _start_proxy(self, apis: list[Child]) -> None:
        proxy_dir = self.data_dir / "proxy"
        ports = [a.spec.port for a in apis if a.spec.port is not None]
        text = proxy.render_config(ports, self.o.port, proxy_dir, self.logs)
        config = proxy.write_config(text, proxy_dir)
        proxy.check_config(config)
        spec = ChildSpec(
            "proxy", "proxy", proxy.nginx_argv(config),
            dict(os.environ), self.logs / "proxy.log", port=self.o.port,
        )  # fmt: skip
        wait_listening(self.o.port, START_TIMEOUT, self.supervisor.start(spec))

    # -- state -------------------------------------------------------------------------------
    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.o.port}"

    def state(self) -> ClusterState:
        """The current :class:`ClusterState` of this run."""
        roles = [
            RoleState(
                name=c.name,
                role=c.spec.role,
                pid=c.pid,
                port=c.spec.port,
                log=str(c.spec.log),
                alive=c.alive,
                exit_code=c.exit_code,
                restarts=c.restarts,
                worker_id=c.spec.worker_id,
            )
            for c in self.supervisor.children
        ]
        return ClusterState(
            dashboard_url=self.dashboard_url,
            nats_url=self.nats_url,
            database_url=database.display_url(self.database_url),
            data_dir=str(self.data_dir),
            supervisor_pid=os.getpid(),
            roles=roles,
        )

    def start(self) -> None:
        """Bring every part up (raises RuntimeError, or the parts' errors, on failure; the
        caller then stops what was started)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self._refuse_second_instance()
        database.ensure_database(self.database_url)
        self._start_nats()
        env = self._base_env()
        self._migrate(env)
        if self.first_run_password is not None and database.count_users(self.database_url):
            self.first_run_password = None  # not a first run: the admin exists already
        apis = self._start_apis(env)
        self._start_workers(env)
        self._start_proxy(apis)
        self.state().write(self.data_dir)

    def announce(self) -> None:
        """Print where the dashboard is (and the first admin password, once)."""
        lines = [
            f"Beholder cluster: {self.o.apis} api, {self.o.workers} worker(s)",
            f"  dashboard   {self.dashboard_url}",
            f"  nats        {self.nats_url}",
            f"  database    {database.display_url(self.database_url)}",
            f"  logs        {self.logs}",
            f"  state       {self.data_dir / 'cluster.json'}",
        ]
        if self.first_run_password is not None:
            lines.append(f"  first run: user 'admin', password {self.first_run_password}")
            lines.append("  (shown only this once; `beholder user set-password admin`)")
        lines.append(f"kill -USR1 {os.getpid()} starts dead apis/workers again.")
        lines.append("Ctrl-C stops everything.")
        print("\n".join(lines), flush=True)

    # -- supervision -------------------------------------------------------------------------
    def supervise(self) -> None:
        """Report exits (and restart apis/workers with ``restart``, or all dead ones at once
        on SIGUSR1) until asked to stop."""
        pending: dict[str, float] = {}
        while not self.stopping.wait(0.2):
            changed = False
            for child in self.supervisor.reap():
                changed = True
                if self.o.restart and child.spec.role in ("api", "worker"):
                    pending[child.name] = time.monotonic() + RESTART_DELAY
            if self.revive.is_set():
                self.revive.clear()
                for child in self.supervisor.children:
                    if child.spec.role in ("api", "worker") and not child.alive:
                        pending[child.name] = time.monotonic()
            for child in self.supervisor.children:
                due = pending.get(child.name)
                if due is not None and time.monotonic() >= due and not self.stopping.is_set():
                    del pending[child.name]
                    self.supervisor.restart(child)
                    changed = True
            if changed:
                self.state().write(self.data_dir)

    def stop(self) -> None:
        """Stop every child (reverse order) and record it in cluster.json."""
        self.supervisor.stop_all()
        if (self.data_dir / "cluster.json").exists() or self.supervisor.children:
            self.state().write(self.data_dir)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_up(options: UpOptions) -> int:
    """Run the cluster until SIGINT/SIGTERM; 0 after a clean stop, 1 when start-up failed."""
    up = ClusterUp(options)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        up.stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    signal.signal(signal.SIGUSR1, lambda _s, _f: up.revive.set())
    try:
        up.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"beholder: cluster up failed: {exc}", file=sys.stderr, flush=True)
        up.stop()
        return 1
    if up.stopping.is_set():
        up.stop()
        return 0
    up.announce()
    up.supervise()
    print("cluster: stopping", flush=True)
    up.stop()
    print("cluster: stopped", flush=True)
    return 0
