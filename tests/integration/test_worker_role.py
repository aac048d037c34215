"""The standalone worker role (``beholder worker``) run in this process against a private
``nats-server -js``: it joins the cluster's worker registry, serves its own metrics, leaves
the registry at once when stopped, and a start-up step that fails (bus unreachable, metrics
port taken) exits 1 naming the step instead of hanging or running half-started."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog

from beholder.bus.kv import KvBucket
from beholder.bus.nats import NatsBus
from beholder.config import BusSettings, Settings
from beholder.contracts.cluster import Buckets
from beholder.worker.role import serve_worker
from support.cluster import PrivateNats
from support.placement import fast_cluster_settings
from support.polling import eventually
from support.settings import free_port, make_settings, make_worker_settings

pytestmark = pytest.mark.slow


@pytest.fixture
def nats() -> Iterator[PrivateNats]:
    server = PrivateNats()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


def worker_settings(tmp_path: Path, bus_url: str, metrics_port: int | None) -> Settings:
    return make_settings(
        tmp_path,
        bus=BusSettings(url=bus_url),
        cluster=fast_cluster_settings(),
        worker=make_worker_settings(metrics_port=metrics_port),
    )


async def test_a_worker_joins_the_registry_serves_metrics_and_leaves_at_once_when_stopped(
    nats: PrivateNats, tmp_path: Path
) -> None:
    metrics_port = free_port()
    stop = asyncio.Event()
    role = asyncio.create_task(
        serve_worker(worker_settings(tmp_path, nats.url, metrics_port), stop, "w-role")
    )
    observer = NatsBus(nats.url)
    await observer.start()
    try:
        registry = await KvBucket.open(observer.jetstream(), Buckets.WORKERS, ttl=2.0)

        async def registered() -> bool:
            assert not role.done(), f"the worker exited early: {role.result()}"
            return await registry.get("w-role") is not None

        await eventually(registered, 20, "the worker in the registry")
        async with httpx.AsyncClient() as client:
            metrics = await client.get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert metrics.status_code == 200
        assert "beholder_worker_sessions" in metrics.text

        stop.set()
        # Prompt: a cancel lost inside nats-py (Python 3.11) once kept a placement loop, and
        # the whole stop, waiting 5 to 10 s.
        assert await asyncio.wait_for(role, 4) == 0
        # Deregistered on the way out, not left to the registry TTL: the others take its
        # cameras now.
        assert await registry.get("w-role") is None
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient() as client:
                await client.get(f"http://127.0.0.1:{metrics_port}/metrics")
    finally:
        stop.set()
        await observer.close()


async def test_an_unreachable_bus_fails_start_up_naming_the_step(tmp_path: Path) -> None:
    settings = worker_settings(tmp_path, f"nats://127.0.0.1:{free_port()}", None)
    with structlog.testing.capture_logs() as logs:
        code = await asyncio.wait_for(serve_worker(settings, asyncio.Event(), "w-nobus"), 30)
    assert code == 1
    failed = [e for e in logs if e["event"] == "worker start-up failed"]
    assert [e["step"] for e in failed] == ["bus"]
    assert "cannot connect to NATS" in failed[0]["error"]


async def test_a_taken_metrics_port_fails_start_up_naming_the_step(
    nats: PrivateNats, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = worker_settings(tmp_path, nats.url, port)
        with structlog.testing.capture_logs() as logs:
            code = await asyncio.wait_for(serve_worker(settings, asyncio.Event(), "w-port"), 30)
    assert code == 1
    assert [e["step"] for e in logs if e["event"] == "worker start-up failed"] == ["metrics"]
