"""``beholder cluster up`` as a person runs it: real processes (nats-server -js, 2 apis, 2
workers, nginx) on a fresh PostgreSQL database. Through the load balancer: the web app, sign
in, a camera on the RTSP fixture reaches PROCESSING and a dashboard socket sees it; an api
killed with SIGKILL is skipped by the balancer and reported dead in cluster.json, SIGUSR1
brings it back; ``cluster status`` lists the roles, the health and the workers; SIGTERM to
``cluster up`` stops every child (nothing left running)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import psutil
import pytest

from fixtures.rtsp_server import RtspServer
from support.cluster_probe import DashboardSocket, rtsp_holders
from support.cluster_up import FAST_LEASES, LocalCluster
from support.command import beholder_argv
from support.polling import eventually

pytestmark = [pytest.mark.rtsp, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[LocalCluster]:
    local = LocalCluster(tmp_path, apis=2, workers=2, **FAST_LEASES)
    try:
        await local.start()
        yield local
    finally:
        await local.stop()


async def test_a_local_cluster_serves_through_its_load_balancer_and_stops_cleanly(
    cluster: LocalCluster,
    rtsp_server_factory: Callable[..., RtspServer],
    rtsp_media: dict[str, Path],
    tmp_path: Path,
) -> None:
    state = cluster.state()
    assert [r.name for r in state.roles] == ["api-1", "api-2", "worker-1", "worker-2", "proxy"]
    assert state.dashboard_url == cluster.url and state.nats_url == cluster.nats.url
    assert (cluster.data_dir / "secret.key").stat().st_mode & 0o777 == 0o600
    for role in state.roles:
        assert Path(role.log).is_file(), role

    async with cluster.client() as c:
        page = await c.get("/")
        assert page.status_code == 200 and "<html" in page.text.lower()
    rtsp = rtsp_server_factory(
        {"cam": rtsp_media["two"]}, clients_path=tmp_path / "rtsp-clients.json"
    )
    dashboard = DashboardSocket(cluster.url, cluster.token)
    dashboard.start()
    try:
        camera_id = await cluster.add_camera("cam", rtsp.url("cam"))
        await cluster.wait_for_camera_status([camera_id], "PROCESSING", timeout=60)
        await eventually(
            lambda: any(m.get("status") == "PROCESSING" for m in dashboard.statuses(camera_id)),
            20,
            "PROCESSING pushed to the dashboard through the load balancer",
        )
        workers = {r.name: r.pid for r in cluster.state().of_role("worker") if r.pid}
        held = rtsp_holders(rtsp, workers)
        assert len(held.get("cam", set())) == 1, held

        # `cluster status`: every role alive, the health and the workers through the balancer.
        status = await asyncio.to_thread(
            subprocess.run,
            [
                *beholder_argv("cluster", "status"),
                "--data-dir",
                str(cluster.data_dir),
            ],
            env=cluster.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
        assert status.stdout.startswith("cluster running"), status.stdout
        assert status.stdout.count("alive pid") == 5, status.stdout
        assert "health: HEALTHY" in status.stdout or "health: DEGRADED" in status.stdout
        assert "workers:" in status.stdout and "worker-2" in status.stdout, status.stdout

        # An api dies: the balancer sends every request to the other one.
        cluster.kill("api-1", signal.SIGKILL)
        await cluster.wait_dead("api-1")
        assert cluster.role("api-1").exit_code == -signal.SIGKILL
        for _ in range(6):
            async with cluster.client() as c:
                r = await c.get("/api/cameras", headers=await cluster.headers())
                assert r.status_code == 200, r.text
        await cluster.revive()
        async with cluster.client(via="api-1") as c:
            assert (await c.get("/api/system/health")).status_code == 200
    finally:
        await dashboard.stop()

    children = [r.pid for r in cluster.state().roles if r.pid]
    assert cluster.proc is not None
    supervisor = cluster.proc
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=90) == 0
    assert not [pid for pid in children if psutil.pid_exists(pid) and _running(pid)]
    assert all(not r.alive for r in cluster.state().roles)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
