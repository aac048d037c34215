"""Issue 12 item 4: ``GET /api/system/workers`` lists the workers the api hears on
``worker.heartbeat`` with their figures; one that stops heartbeating is listed as stale, then
dropped; the worker service's health details carry the same per-worker figures; every
response names the api instance that answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from beholder.messages import Subjects, WorkerHeartbeat, utcnow
from support.api import LiveApi, live_api
from support.polling import eventually
from support.settings import make_settings

CAM_A = "11111111-1111-1111-1111-111111111111"
CAM_B = "22222222-2222-2222-2222-222222222222"


@pytest.fixture
async def quiet_api(tmp_path: Path) -> AsyncIterator[LiveApi]:
    """The app with no worker of its own: the test plays the workers on its bus."""
    async with live_api(make_settings(tmp_path)) as live:
        yield live


async def _beat(api: LiveApi, worker_id: str, **fields: Any) -> None:
    hb = WorkerHeartbeat(worker_id=worker_id, **fields)
    await api.state.bus.publish(Subjects.WORKER_HEARTBEAT, hb.to_bytes())


async def _workers(api: LiveApi) -> list[dict[str, Any]]:
    r = await api.client.get("/api/system/workers", headers=await api.headers("viewer"))
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_workers_need_credentials(quiet_api: LiveApi) -> None:
    r = await quiet_api.client.get("/api/system/workers")
    assert r.status_code == 401
    error = r.json()["error"]
    assert error["code"] == "UNAUTHORIZED"
    assert {"message", "severity", "correlationId"} <= set(error)
    bad = await quiet_api.client.get(
        "/api/system/workers", headers={"Authorization": "Bearer not-a-token"}
    )
    assert bad.status_code == 401


async def test_heartbeats_are_listed_with_their_figures_then_go_stale(
    quiet_api: LiveApi,
) -> None:
    api = quiet_api
    await api.headers("viewer")  # sign in first: a login may take longer than the grace
    started = utcnow()

    async def beat_both() -> None:
        await _beat(
            api,
            "worker-b",
            sessions=2,
            camera_ids=[CAM_A, CAM_B],
            leases=2,
            cpu_percent=41.5,
            detector_load=0.25,
            dropped_samples=3,
            egress_sessions=1,
            egress_errors=0,
            started_at=started,
        )
        await _beat(api, "worker-a", sessions=0)

    async def both() -> list[dict[str, Any]] | None:
        await beat_both()
        items = await _workers(api)
        return items if [w["alive"] for w in items] == [True, True] else None

    items = await eventually(both, 5, "two workers listed")
    assert [w["workerId"] for w in items] == ["worker-a", "worker-b"]
    b = items[1]
    assert b["alive"] is True
    assert b["cameraIds"] == [CAM_A, CAM_B]
    assert (b["sessions"], b["leases"], b["droppedSamples"]) == (2, 2, 3)
    assert (b["cpuPercent"], b["detectorLoad"]) == (41.5, 0.25)
    assert (b["egressSessions"], b["egressErrors"]) == (1, 0)
    assert b["lastHeartbeat"].endswith("Z") and b["startedAt"].endswith("Z")
    a = items[0]
    assert a["leases"] is None and a["cpuPercent"] is None and a["startedAt"] is None

    # The worker service's health details carry the same figures per worker.
    async def per_worker() -> dict[str, Any] | None:
        await beat_both()
        r = await api.client.get("/api/system/health/worker", headers=await api.headers("viewer"))
        details: dict[str, Any] = r.json()["details"]
        return details if len(details.get("perWorker", {})) == 2 else None

    details = await eventually(per_worker, 5, "per-worker health details")
    assert details["perWorker"]["worker-b"]["leases"] == 2
    assert details["perWorker"]["worker-b"]["cpuPercent"] == 41.5

    # worker-b keeps beating, worker-a falls silent: past the grace (3 × 0.5 s) it is listed
    # as stale after the live one, and after forget_after it is gone.
    api.state.workers.forget_after = 1.0

    async def a_stale() -> list[dict[str, Any]] | None:
        await _beat(api, "worker-b", sessions=2, leases=2)
        items = await _workers(api)
        alive = {w["workerId"]: w["alive"] for w in items}
        return items if alive == {"worker-b": True, "worker-a": False} else None

    items = await eventually(a_stale, 10, "worker-a listed as stale")
    assert [w["workerId"] for w in items] == ["worker-b", "worker-a"]

    async def a_gone() -> bool:
        await _beat(api, "worker-b", sessions=2, leases=2)
        return [w["workerId"] for w in await _workers(api)] == ["worker-b"]

    await eventually(a_gone, 10, "worker-a dropped")


async def test_every_response_names_the_instance(quiet_api: LiveApi) -> None:
    api = quiet_api
    stats = await api.client.get("/api/system/stats", headers=await api.headers("viewer"))
    instance = stats.json()["instance"]
    assert instance and instance == stats.headers["X-Beholder-Instance"]
    assert stats.json()["totals"]["rateLimits"] == {
        "backend": "memory",
        "degraded": False,
        "failovers": 0,
    }
    for r in (
        await api.client.get("/api/system/health"),
        await api.client.get("/api/system/workers"),  # an error carries it too
    ):
        assert r.headers["X-Beholder-Instance"] == instance


async def test_serve_lists_its_in_process_worker(tmp_path: Path) -> None:
    async with live_api(make_settings(tmp_path, run_worker=True)) as api:

        async def one() -> list[dict[str, Any]] | None:
            items = await _workers(api)
            return items if items else None

        items = await eventually(one, 10, "the in-process worker listed")
        assert len(items) == 1
        assert items[0]["alive"] is True
        assert items[0]["workerId"] == api.state.worker.worker_id
