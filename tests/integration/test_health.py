"""Health checker and readiness, with the worker check telling the truth."""

import asyncio
import json
from pathlib import Path

import websockets

from beholder.config import WorkerSettings
from beholder.messages import Subjects, WorkerHeartbeat
from support.api import LiveApi, start_live_api, stop_live_api
from support.polling import eventually
from support.settings import make_settings


async def test_health_reports_every_service(sqlite_api: LiveApi) -> None:
    # signed in: details too (anonymous callers get statuses only: test_surface.py)
    viewer = await sqlite_api.headers("viewer")
    r = await sqlite_api.client.get("/api/system/health", headers=viewer)
    assert r.status_code == 200
    body = r.json()
    assert set(body["services"]) == {"database", "worker", "websocket", "bus", "media"}
    for svc in body["services"].values():
        assert svc["status"] in ("UNKNOWN", "STARTING", "HEALTHY", "DEGRADED", "UNHEALTHY")
        assert "responseTimeMs" in svc and "details" in svc
    assert body["services"]["database"]["status"] == "HEALTHY"
    one = await sqlite_api.client.get("/api/system/health/database", headers=viewer)
    assert one.json()["status"] == "HEALTHY" and one.json()["details"]["backend"] == "sqlite"
    missing = await sqlite_api.client.get("/api/system/health/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


async def test_worker_check_follows_heartbeats(tmp_path: Path) -> None:
    # No worker runs here: after the grace period the worker check must say UNHEALTHY,
    # and a heartbeat on the bus turns it HEALTHY — nothing hard-coded.
    live = await start_live_api(
        make_settings(tmp_path, health_interval=0.2, worker=WorkerSettings(heartbeat_interval=0.2))
    )
    try:

        async def worker_status() -> str:
            r = await live.client.get("/api/system/health/worker")
            return str(r.json()["status"])

        async def worker_is(status: str) -> bool:
            return await worker_status() == status

        await eventually(lambda: worker_is("UNHEALTHY"), 15, "the worker check to be UNHEALTHY")
        assert await worker_status() == "UNHEALTHY"
        overall = (await live.client.get("/api/system/health")).json()["status"]
        assert overall == "DEGRADED"  # the worker is not critical for the api itself
        assert (await live.client.get("/api/system/ready")).status_code == 200

        ws = await websockets.connect(live.ws_url)
        await ws.send(json.dumps({"type": "auth", "token": await live.token("viewer")}))
        await ws.recv()
        await ws.send(json.dumps({"type": "subscribe", "topics": ["health"]}))

        hb = WorkerHeartbeat(worker_id="w1", sessions=3)

        async def beat_until_healthy() -> bool:
            await live.state.bus.publish(Subjects.WORKER_HEARTBEAT, hb.to_bytes())
            return await worker_is("HEALTHY")

        await eventually(beat_until_healthy, 10, "a heartbeat to make the worker HEALTHY", 0.1)
        assert await worker_status() == "HEALTHY"
        viewer = await live.headers("viewer")
        worker = await live.client.get("/api/system/health/worker", headers=viewer)
        detail = worker.json()["details"]
        assert detail["sessions"] == 3
        async with asyncio.timeout(5):
            while True:
                msg = json.loads(await ws.recv())
                if (
                    msg["type"] == "health-update"
                    and msg["services"]["worker"]["status"] == "HEALTHY"
                ):
                    break
        await ws.close()
    finally:
        await stop_live_api(live)


async def test_ready_is_503_in_error_shape_until_critical_services_are_up(
    sqlite_api: LiveApi,
) -> None:
    ok = await sqlite_api.client.get("/api/system/ready")
    assert ok.status_code == 200 and ok.json()["ready"] is True
    await sqlite_api.state.bus.close()
    await sqlite_api.state.health.check_now()
    r = await sqlite_api.client.get("/api/system/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert body["services"]["bus"]["status"] == "UNHEALTHY"
    assert body["services"]["database"]["status"] == "HEALTHY"
