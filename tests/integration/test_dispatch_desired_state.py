"""Camera commands in distributed mode (issue 12): the api on a real ``nats-server -js``
(private) writes each camera's desired state into the JetStream KV bucket
``beholder_cameras`` instead of publishing ``camera.commands``.

START puts the camera's spec (its restart token kept), RESTART puts a new restart token,
the face-detection switch edits the spec, STOP deletes the key and, when no worker holds a
lease, marks the camera STOPPED at once. Each write carries the command's correlation id and
the request's W3C trace context. Reconcile (several api instances at once) makes the desired
state match the database and keeps it when no worker is up.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from beholder.api.reconcile import reconcile_cameras
from beholder.bus.kv import KvBucket
from beholder.bus.nats import NatsBus
from beholder.config import BusSettings
from beholder.contracts.bus import CameraSpec, WorkerHeartbeat
from beholder.contracts.cluster import Buckets, CameraAssignment, CameraLease, camera_key
from beholder.db.repositories import cameras as cameras_repo
from support.api import LiveApi, live_api
from support.nats import NatsServer
from support.settings import make_settings
from support.tracing import finished, in_memory_tracing


@dataclass
class ApiOnJetStream:
    """The api (``live``), a worker-side NATS connection (``peer``) and the spans."""

    live: LiveApi
    peer: NatsBus
    exporter: InMemorySpanExporter


@pytest.fixture
async def cluster_api(
    tmp_path: Path, database_url: str | None, nats_server: Any
) -> AsyncIterator[ApiOnJetStream]:
    """An api instance on a private JetStream server (tracing on, spans in memory), and a
    second NATS connection to read and write the KV buckets as a worker would."""
    server: NatsServer = nats_server(f'jetstream {{ store_dir: "{tmp_path / "js"}" }}')
    settings = make_settings(tmp_path, database_url, bus=BusSettings(url=server.url))
    peer = NatsBus(server.url)
    await peer.start()
    with in_memory_tracing("api") as exporter:
        async with live_api(settings) as live:
            await _startup_reconcile_done()
            yield ApiOnJetStream(live, peer, exporter)
    await peer.close()


async def _startup_reconcile_done() -> None:
    for task in asyncio.all_tasks():
        if task.get_name() == "reconcile-cameras":
            await asyncio.wait_for(asyncio.shield(task), 10)


async def _bucket(peer: NatsBus, name: str) -> KvBucket:
    return await KvBucket.open(peer.jetstream(), name, ttl=_TTL.get(name))


_TTL = {Buckets.LEASES: 5.0, Buckets.WORKERS: 5.0}


async def _assignment(peer: NatsBus, camera_id: str) -> CameraAssignment | None:
    entry = await (await _bucket(peer, Buckets.CAMERAS)).get(camera_key(camera_id))
    return None if entry is None else CameraAssignment.from_bytes(entry.value)


async def _camera(live: LiveApi, name: str) -> str:
    r = await live.client.post(
        "/api/cameras",
        json={"name": name, "rtspUrl": "rtsp://user:pw@10.0.0.5/s"},
        headers=await live.headers("operator"),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _command(live: LiveApi, camera_id: str, verb: str, **kw: Any) -> dict[str, Any]:
    r = await live.client.post(
        f"/api/cameras/{camera_id}/{verb}", headers=await live.headers("operator"), **kw
    )
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_commands_write_the_desired_state(
    cluster_api: ApiOnJetStream,
) -> None:
    live, peer = cluster_api.live, cluster_api.peer
    cam = await _camera(live, "door")
    started = await _command(live, cam, "start")
    assert started["status"] == "STARTING"
    first = await _assignment(peer, cam)
    assert first is not None
    assert first.spec == CameraSpec(
        camera_id=cam, name="door", rtsp_url="rtsp://user:pw@10.0.0.5/s"
    )
    assert first.correlation_id == started["correlationId"]
    request = finished(cluster_api.exporter).named("POST /api/cameras/{camera_id}/start")
    assert first.trace_context["traceparent"].split("-")[1] == request[0].trace_id

    again = await _command(live, cam, "start")
    second = await _assignment(peer, cam)
    assert second is not None and second.restart_token == first.restart_token
    assert second.correlation_id == again["correlationId"] != first.correlation_id

    await _command(live, cam, "restart")
    third = await _assignment(peer, cam)
    assert third is not None and third.restart_token != first.restart_token

    await _command(live, cam, "face-detection", json={"enabled": False})
    fourth = await _assignment(peer, cam)
    assert fourth is not None and fourth.spec.face_detection_enabled is False
    assert fourth.restart_token == third.restart_token  # a toggle is no restart

    # A worker holds it: the STOP removes the desired state, the holder reports STOPPED.
    leases = await _bucket(peer, Buckets.LEASES)
    lease = CameraLease(worker_id="w1", epoch=1)
    assert await leases.create(camera_key(cam), lease.to_bytes()) is not None
    stopped = await _command(live, cam, "stop")
    assert stopped["status"] == "STOPPING"
    assert await _assignment(peer, cam) is None
    await leases.delete(camera_key(cam))

    # Nobody holds it: STOPPED at once.
    await _command(live, cam, "start")
    stopped = await _command(live, cam, "stop")
    assert stopped["status"] == "STOPPED" and await _assignment(peer, cam) is None
    r = await live.client.get(f"/api/cameras/{cam}", headers=await live.headers("viewer"))
    assert r.json()["status"] == "STOPPED"

    # The switch of a camera that is not meant to run writes no desired state.
    await _command(live, cam, "face-detection", json={"enabled": True})
    assert await _assignment(peer, cam) is None


async def test_a_viewer_cannot_command_cameras(cluster_api: ApiOnJetStream) -> None:
    live, peer = cluster_api.live, cluster_api.peer
    cam = await _camera(live, "hall")
    viewer = await live.headers("viewer")
    for verb, body in (("start", None), ("restart", None), ("stop", None)):
        r = await live.client.post(f"/api/cameras/{cam}/{verb}", headers=viewer, json=body)
        assert r.status_code == 403 and r.json()["error"]["code"], (verb, r.text)
    r = await live.client.post(
        f"/api/cameras/{cam}/face-detection", headers=viewer, json={"enabled": False}
    )
    assert r.status_code == 403
    assert await _assignment(peer, cam) is None


async def _set_camera(live: LiveApi, camera_id: str, **fields: Any) -> None:
    async with live.state.db.session() as s:
        cam = await cameras_repo.get(s, camera_id)
        for key, value in fields.items():
            setattr(cam, key, value)
        await s.commit()


async def test_concurrent_reconciles_converge_once(cluster_api: ApiOnJetStream) -> None:
    live, peer = cluster_api.live, cluster_api.peer
    cameras = await _bucket(peer, Buckets.CAMERAS)
    workers = await _bucket(peer, Buckets.WORKERS)
    fresh = await _camera(live, "fresh")  # running in the DB, no desired state
    moved = await _camera(live, "moved")  # running, desired state with an old URL
    halted = await _camera(live, "halted")  # stopped in the DB, desired state left over
    gone = str(uuid.uuid4())  # desired state of a camera that no longer exists
    await _set_camera(live, fresh, status="PROCESSING", enabled=True)
    await _set_camera(live, moved, status="ERROR", enabled=True)
    await _set_camera(live, halted, status="STOPPED", enabled=False)
    old = CameraAssignment(spec=CameraSpec(camera_id=moved, name="moved", rtsp_url="rtsp://old"))
    await cameras.put(camera_key(moved), old.to_bytes())
    for camera_id in (halted, gone):
        leftover = CameraSpec(camera_id=camera_id, name="x", rtsp_url="rtsp://10.0.0.1/x")
        await cameras.put(camera_key(camera_id), CameraAssignment(spec=leftover).to_bytes())
    beat = WorkerHeartbeat(worker_id="w1", sessions=0)
    await workers.put("w1", beat.to_bytes())

    one, two = await asyncio.gather(reconcile_cameras(live.state), reconcile_cameras(live.state))

    assert one["created"] + two["created"] == 1
    assert one["updated"] + two["updated"] == 1
    assert one["removed"] + two["removed"] == 2
    desired = await cameras.entries()
    assert set(desired) == {camera_key(fresh), camera_key(moved)}
    updated = await _assignment(peer, moved)
    assert updated is not None and updated.spec.rtsp_url == "rtsp://user:pw@10.0.0.5/s"
    assert updated.restart_token == old.restart_token  # a spec change, not a restart
    r = await live.client.get(f"/api/cameras/{fresh}", headers=await live.headers("viewer"))
    assert r.json()["status"] == "STARTING"  # nobody holds it yet: a worker will start it

    # Run again: nothing left to do.
    three = await reconcile_cameras(live.state)
    assert (three["created"], three["updated"], three["removed"]) == (0, 0, 0)


async def test_reconcile_without_workers_keeps_the_desired_state(
    cluster_api: ApiOnJetStream,
) -> None:
    live, peer = cluster_api.live, cluster_api.peer
    cam = await _camera(live, "yard")
    await _set_camera(live, cam, status="PROCESSING", enabled=True)
    counts = await reconcile_cameras(live.state, timeout=0.5)
    assert counts["failed"] == 1 and counts["created"] == 1
    r = await live.client.get(f"/api/cameras/{cam}", headers=await live.headers("operator"))
    assert r.json()["status"] == "ERROR" and r.json()["errorCode"] == "SERVICE_UNAVAILABLE"
    assert await _assignment(peer, cam) is not None  # the first worker up starts it
