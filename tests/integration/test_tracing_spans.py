"""One trace per user-visible action, across the bus, on the real app (``serve``: api and
worker in one process, the in-memory bus) with the real RTSP camera and detector:

* ``POST /api/cameras/{id}/start`` → ``publish camera.commands`` → ``process
  camera.commands`` (worker) → ``worker session start`` → ``publish stream.status`` →
  ``process stream.status`` (api) → ``persist status`` (SQL) → ``publish hub.broadcast`` →
  ``process hub.broadcast`` → ``hub broadcast`` (to the dashboard that is connected);
* a face alert: ``face detection`` → ``publish camera.events`` → ``process camera.events``
  → ``persist alert`` (SQL) → ``publish hub.broadcast`` → … → ``hub broadcast``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from support.api import LiveApi, start_live_api, stop_live_api
from support.polling import eventually
from support.rtsp import RtspServer
from support.settings import make_settings, make_worker_settings
from support.tracing import (
    SpanTree,
    camera_start_trace,
    delivered,
    finished,
    in_memory_tracing,
    persisted_and_broadcast,
)

pytestmark = [pytest.mark.rtsp, pytest.mark.slow]


@pytest.fixture
async def traced_serve(
    tmp_path: Path, database_url: str | None
) -> AsyncIterator[tuple[LiveApi, InMemorySpanExporter]]:
    """``serve`` with tracing on, every span kept in memory (on SQLite and PostgreSQL: the
    SQL spans come from either driver)."""
    with in_memory_tracing() as exporter:
        settings = make_settings(
            tmp_path, database_url, run_worker=True, worker=make_worker_settings(sample_fps=2.0)
        )
        live = await start_live_api(settings)
        try:
            yield live, exporter
        finally:
            await stop_live_api(live)


async def _dashboard(api: LiveApi, topics: list[str]) -> Any:
    ws = await websockets.connect(api.ws_url)
    await ws.send(json.dumps({"type": "auth", "token": await api.token("viewer")}))
    assert json.loads(await ws.recv())["type"] == "auth-ok"
    await ws.send(json.dumps({"type": "subscribe", "topics": topics}))
    while json.loads(await ws.recv())["type"] != "subscribed":
        pass
    return ws


async def _next(ws: Any, kind: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] == kind and all(msg.get(k) == v for k, v in fields.items()):
                return msg


async def _camera(api: LiveApi, rtsp: RtspServer, detect: bool) -> str:
    r = await api.client.post(
        "/api/cameras",
        json={"name": "two", "rtspUrl": rtsp.url("two"), "faceDetectionEnabled": detect},
        headers=await api.headers("operator"),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_camera_start_is_one_trace_from_the_request_to_the_hub(
    traced_serve: tuple[LiveApi, InMemorySpanExporter], rtsp_camera: RtspServer
) -> None:
    live, exporter = traced_serve
    cid = await _camera(live, rtsp_camera, detect=False)
    ws = await _dashboard(live, ["cameras"])
    try:
        r = await live.client.post(
            f"/api/cameras/{cid}/start", headers=await live.headers("operator")
        )
        assert r.status_code == 202, r.text
        await _next(ws, "camera-status-update", cameraId=cid, status="PROCESSING")
    finally:
        await ws.close()

    def start_trace() -> SpanTree | None:
        return camera_start_trace(finished(exporter))

    trace = await eventually(start_trace, 20, "the camera start trace to complete")
    assert trace is not None
    request = trace.named("POST /api/cameras/{camera_id}/start")[0]
    assert request.kind == "SERVER"
    # above it only the test's own httpx call (the httpx instrumentation is on in-process)
    assert [s.kind for s in trace.ancestors(request)] in ([], ["CLIENT"])
    command = trace.child(request, "publish camera.commands")
    assert command.kind == "PRODUCER"
    assert command.attributes["messaging.destination.name"] == "camera.commands"
    worker = trace.child(command, "process camera.commands")
    assert worker.kind == "CONSUMER"
    assert worker.attributes["messaging.consumer.group.name"] == "workers"
    start = trace.child(worker, "worker session start")
    assert start.attributes["beholder.camera.id"] == cid
    assert start.attributes["beholder.correlation_id"] == r.json()["correlationId"]
    status = trace.child(start, "publish stream.status")
    api_side = trace.child(status, "process stream.status")
    assert api_side.attributes["messaging.consumer.group.name"] == "api"
    persist = trace.child(api_side, "persist status")
    assert persist.attributes["beholder.camera.id"] == cid
    hubs = trace.named("hub broadcast", **{"beholder.hub.topic": "cameras"})
    assert any(h.attributes["beholder.hub.recipients"] >= 1 for h in hubs)
    assert {s.trace_id for s in trace.spans} == {request.trace_id}


async def test_a_face_alert_is_one_trace_from_detection_to_the_hub(
    traced_serve: tuple[LiveApi, InMemorySpanExporter], rtsp_camera: RtspServer
) -> None:
    live, exporter = traced_serve
    cid = await _camera(live, rtsp_camera, detect=True)
    ws = await _dashboard(live, ["alerts"])
    try:
        r = await live.client.post(
            f"/api/cameras/{cid}/start", headers=await live.headers("operator")
        )
        assert r.status_code == 202, r.text
        alert = await _next(ws, "face-detection-alert", timeout=60, cameraId=cid)
    finally:
        await ws.close()

    def alert_trace() -> SpanTree | None:
        tree = finished(exporter)
        found = tree.named("face detection", **{"beholder.alert.id": alert["id"]})
        if not found:
            return None
        trace = tree.trace(found[0].trace_id)
        for publish in trace.children(found[0], "publish camera.events"):
            for process in trace.children(publish, "process camera.events"):
                if persisted_and_broadcast(trace, process, "alert", "alerts"):
                    return trace
        return None

    trace = await eventually(alert_trace, 20, "the alert trace to complete")
    assert trace is not None
    detection = trace.named("face detection")[0]
    assert detection.parent is None  # an alert starts its own trace
    assert detection.attributes["beholder.camera.id"] == cid
    assert detection.attributes["beholder.faces"] >= 1
    publish = trace.child(detection, "publish camera.events")
    assert publish.attributes["messaging.destination.name"] == "camera.events"
    process = trace.child(publish, "process camera.events")
    persist = trace.child(process, "persist alert")
    assert persist.attributes["beholder.camera.id"] == cid
    fan_out = trace.child(process, "publish hub.broadcast")
    hub = delivered(trace, fan_out, "alerts")
    assert hub is not None and hub.attributes["beholder.hub.recipients"] >= 1
    assert hub.attributes["beholder.hub.type"] == "face-detection-alert"


async def test_spans_carry_no_media_signature_nor_token(tmp_path: Path) -> None:
    """A signed media URL's ``sig`` and a bearer token never reach the exported spans."""
    with in_memory_tracing() as exporter:
        live = await start_live_api(make_settings(tmp_path))
        try:
            headers = await live.headers("viewer")
            signed = await live.client.post(
                "/api/media/sign",
                json={"path": "/api/alerts/00000000-0000-4000-8000-000000000000/snapshot.jpg"},
                headers=headers,
            )
            assert signed.status_code == 200, signed.text
            url = signed.json()["url"]
            sig = url.split("sig=", 1)[1]
            r = await live.client.get(url)
            assert r.status_code == 404  # signed and valid, the alert does not exist
        finally:
            await stop_live_api(live)
    tree = finished(exporter)
    assert tree.named("GET /api/alerts/{alert_id}/snapshot.jpg"), [s.name for s in tree.spans]
    token = headers["Authorization"].split()[1]
    for s in tree.spans:
        for value in s.attributes.values():
            assert sig not in str(value) and token not in str(value), (s.name, value)
