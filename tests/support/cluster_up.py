"""A whole local cluster for tests and benches: ``beholder cluster up`` (``sys.executable -m
beholder``, this checkout's sources) over a fresh database on the machine's PostgreSQL and
a private ``nats-server -js`` the test may restart (:class:`support.cluster.PrivateNats`).

:class:`LocalCluster` reads ``cluster.json`` to kill or signal one role, revives dead ones
(SIGUSR1 to the supervisor), talks REST to the load balancer or to one api, and waits for a
camera's status. The probes of what the cluster does (leases KV, RTSP sessions per worker,
dashboard sockets) are in :mod:`support.cluster_probe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from beholder.cluster.state import ClusterState, RoleState, read_state
from support.cluster import PrivateNats
from support.command import beholder_argv
from support.database import admin_sql, pg_available
from support.polling import eventually
from support.settings import ADMIN_PASSWORD, TEST_CAMERA_NETWORKS, free_port

__all__ = ["FAST_LEASES", "LocalCluster", "cluster_env"]

SRC = Path(__file__).resolve().parents[2] / "src"

FAST_LEASES = {
    "BEHOLDER_CLUSTER_LEASE_TTL": "3",
    "BEHOLDER_CLUSTER_LEASE_RENEW_INTERVAL": "1",
    "BEHOLDER_CLUSTER_REGISTRY_TTL": "3",
    "BEHOLDER_CLUSTER_PLACEMENT_INTERVAL": "0.5",
    "BEHOLDER_CLUSTER_ACK_WAIT": "3",
}
"""Short leases for tests: a dead worker's cameras move within about 3 s plus a start."""


def cluster_env(**extra: str) -> dict[str, str]:
    """The environment of ``cluster up`` in a test: this checkout first on the path, the
    known admin password, loopback cameras allowed, generous rate limits (every request
    comes from the load balancer's address), JSON logs, fast health; ``extra`` on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(SRC), *sys.path]),
            "BEHOLDER_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "BEHOLDER_CAMERA_NETWORKS": TEST_CAMERA_NETWORKS,
            "BEHOLDER_HEALTH_INTERVAL": "0.5",
            "BEHOLDER_WORKER_HEARTBEAT_INTERVAL": "0.5",
            "BEHOLDER_RATE_LIMIT_PER_IP": "100000/minute",
            "BEHOLDER_RATE_LIMIT_PER_PRINCIPAL": "100000/minute",
            "BEHOLDER_RATE_LIMIT_LOGIN": "1000/minute",
            "BEHOLDER_RATE_LIMIT_REFRESH": "1000/minute",
            "BEHOLDER_LOG_FORMAT": "json",
        }
    )
    env.update(extra)
    return env


class LocalCluster:
    """``beholder cluster up --apis N --workers M`` in ``root`` (its data dir is
    ``root/cluster``, its console output ``root/cluster-up.log``). ``env`` adds or overrides
    ``BEHOLDER_*`` variables of every role (e.g. :data:`FAST_LEASES`)."""

    def __init__(self, root: Path, apis: int = 2, workers: int = 3, **env: str) -> None:
        self.root = root
        self.apis = apis
        self.workers = workers
        self.data_dir = root / "cluster"
        self.port = free_port()
        self.database = "beholder_cl_" + uuid.uuid4().hex[:10]
        self.nats = PrivateNats()
        self.env = cluster_env(**env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.console = root / "cluster-up.log"
        self.tokens: dict[str, str] = {}

    @property
    def database_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.database}"

    @property
    def url(self) -> str:
        """The load balancer (what a browser uses)."""
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle ---------------------------------------------------------------------------
    def argv(self, *extra: str) -> list[str]:
        """The ``cluster up`` command line of this cluster."""
        return [
            *beholder_argv("cluster", "up"),
            "--apis", str(self.apis), "--workers", str(self.workers), "--port", str(self.port),
            "--data-dir", str(self.data_dir), "--database-url", self.database_url,
            "--nats-url", self.nats.url, *extra,
        ]  # fmt: skip

    async def start(self, timeout: float = 150.0, *extra: str) -> None:
        """Start NATS and ``cluster up``; return once every role runs, the load balancer
        answers ready and every worker is in the registry."""
        if not pg_available():
            raise RuntimeError("PostgreSQL is not running on 127.0.0.1:5432")
        self.nats.start()
        with self.console.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv(*extra),
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        await eventually(self._up, timeout, self._why_not_up, every=0.25)

    def _up(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"cluster up exited: {self._why_not_up()}")
        text = self.console.read_text(errors="replace") if self.console.exists() else ""
        return "Ctrl-C stops everything." in text

    def _why_not_up(self) -> str:
        text = self.console.read_text(errors="replace") if self.console.exists() else ""
        return f"cluster up ({self.console}): {text[-2000:]!r}"

    async def stop(self) -> None:
        """Stop ``cluster up`` (it stops its children), NATS, and drop the database."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(proc.wait, 90)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.nats.destroy()
        with contextlib.suppress(Exception):
            await admin_sql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    # -- roles -------------------------------------------------------------------------------
    def state(self) -> ClusterState:
        """``cluster.json`` as it is now."""
        return read_state(self.data_dir)

    def role(self, name: str) -> RoleState:
        return self.state().role(name)

    def pid(self, name: str) -> int:
        """The pid of the live role ``name``; AssertionError when it is not running."""
        role = self.role(name)
        assert role.alive and role.pid is not None, f"{name} is not running: {role}"
        return role.pid

    def worker_names(self) -> list[str]:
        return [r.name for r in self.state().of_role("worker")]

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Send ``sig`` to role ``name`` (the process itself, not its group); its pid."""
        pid = self.pid(name)
        os.kill(pid, sig)
        return pid

    async def wait_dead(self, name: str, timeout: float = 20.0) -> None:
        """Until the supervisor has seen ``name`` exit (cluster.json says so)."""
        await eventually(lambda: not self.role(name).alive, timeout, f"{name} reported dead")

    async def revive(self, timeout: float = 60.0) -> None:
        """Ask the supervisor (SIGUSR1) to start every dead api and worker again; returns
        once cluster.json shows them all alive and every api answers."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGUSR1)
        await eventually(
            lambda: all(r.alive for r in self.state().roles if r.role in ("api", "worker")),
            timeout,
            "every role alive again",
        )
        for api in self.state().of_role("api"):
            await eventually(
                lambda api=api: self._answers(api.name), timeout, f"{api.name} to answer"
            )

    async def _answers(self, name: str) -> bool:
        try:
            async with self.client(via=name) as c:
                return (await c.get("/api/system/health")).status_code == 200
        except httpx.HTTPError:
            return False

    def api_url(self, name: str) -> str:
        """The address of api ``name`` itself (not through the load balancer)."""
        return f"http://127.0.0.1:{self.role(name).port}"

    def log_records(self, name: str, event: str) -> list[dict[str, Any]]:
        """The JSON log records of role ``name`` whose ``event`` is ``event``."""
        import json

        found = []
        for line in Path(self.role(name).log).read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("event") == event:
                    found.append(record)
        return found

    # -- REST --------------------------------------------------------------------------------
    def client(self, via: str | None = None) -> httpx.AsyncClient:
        """A client of the load balancer, or of api ``via``; the caller closes it."""
        base = self.url if via is None else self.api_url(via)
        return httpx.AsyncClient(base_url=base, timeout=20)

    async def token(self) -> str:
        """An admin access token (signed in through the load balancer once)."""
        if "admin" not in self.tokens:
            async with self.client() as c:
                r = await c.post(
                    "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
                )
                assert r.status_code == 200, r.text
                self.tokens["admin"] = r.json()["accessToken"]
        return self.tokens["admin"]

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token()}"}

    async def add_camera(self, name: str, rtsp_url: str, *, faces: bool = True) -> str:
        """Create and start a camera; its id."""
        async with self.client() as c:
            h = await self.headers()
            r = await c.post(
                "/api/cameras",
                json={"name": name, "rtspUrl": rtsp_url, "faceDetectionEnabled": faces},
                headers=h,
            )
            assert r.status_code == 201, r.text
            camera_id: str = r.json()["id"]
            r = await c.post(f"/api/cameras/{camera_id}/start", headers=h)
            assert r.status_code == 202, r.text
        return camera_id

    async def cameras(self, via: str | None = None) -> dict[str, dict[str, Any]]:
        """Every camera by id, as the REST API shows it."""
        async with self.client(via) as c:
            r = await c.get("/api/cameras", params={"limit": 200}, headers=await self.headers())
            assert r.status_code == 200, r.text
            return {cam["id"]: cam for cam in r.json()["items"]}

    async def wait_for_camera_status(
        self, camera_ids: list[str], status: str = "PROCESSING", timeout: float = 60.0
    ) -> dict[str, dict[str, Any]]:
        """Until every camera of ``camera_ids`` shows ``status`` in the REST API; returns
        the cameras."""
        seen: dict[str, dict[str, Any]] = {}

        async def check() -> bool:
            seen.update(await self.cameras())
            return all(seen.get(cid, {}).get("status") == status for cid in camera_ids)

        def why() -> str:
            return str({cid: seen.get(cid, {}).get("status") for cid in camera_ids})

        await eventually(check, timeout, lambda: f"{status} on every camera: {why()}", every=0.3)
        return seen

    async def alerts(self, limit: int = 500) -> list[dict[str, Any]]:
        """The stored alerts (newest first), all pages up to ``limit``."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        async with self.client() as c:
            while len(items) < limit:
                params: dict[str, Any] = {"limit": 100}
                if cursor:
                    params["cursor"] = cursor
                r = await c.get("/api/alerts", params=params, headers=await self.headers())
                assert r.status_code == 200, r.text
                body = r.json()
                items += body["items"]
                cursor = body.get("nextCursor")
                if not cursor:
                    break
        return items
