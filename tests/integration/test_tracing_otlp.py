"""End to end over OTLP/HTTP: a real ``beholder serve`` process, turned on only by the
standard ``OTEL_*`` variables, exports its spans to a receiver in this test, which decodes
each request with the official ``opentelemetry-proto`` messages. The camera start (real RTSP
camera) arrives as one trace crossing the bus, and the process's access log line for that
request carries the same trace and span ids."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from asyncio.subprocess import Process
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from support.nats import NatsServer
from support.polling import eventually
from support.processes import log_tail
from support.rtsp import RtspServer
from support.settings import ADMIN_PASSWORD, TEST_CAMERA_NETWORKS, free_port
from support.tracing import Span, SpanTree, camera_start_trace, start_trace_outline

pytestmark = [pytest.mark.rtsp, pytest.mark.slow]


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


class OtlpReceiver:
    """An OTLP/HTTP traces endpoint (``POST /v1/traces``, protobuf) on 127.0.0.1 that keeps
    every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.requests = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ok = (
                    self.path == "/v1/traces"
                    and self.headers.get("Content-Type") == "application/x-protobuf"
                )
                if ok:
                    receiver.take(ExportTraceServiceRequest.FromString(body))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def take(self, request: ExportTraceServiceRequest) -> None:
        spans = []
        for rs in request.resource_spans:
            resource = {kv.key: _value(kv.value) for kv in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    spans.append(
                        Span(
                            name=s.name,
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent=s.parent_span_id.hex() or None,
                            kind=s.SpanKind.Name(s.kind).removeprefix("SPAN_KIND_"),
                            attributes={kv.key: _value(kv.value) for kv in s.attributes},
                            service=resource.get("service.name"),
                            resource=resource,
                        )
                    )
        with self._lock:
            self.requests += 1
            self.spans.extend(spans)

    def tree(self) -> SpanTree:
        with self._lock:
            return SpanTree(list(self.spans))


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def _env(receiver: OtlpReceiver, service: str, **beholder: str) -> dict[str, str]:
    """The environment of a Beholder process exporting to ``receiver`` as ``service``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BEHOLDER_", "OTEL_"))}
    env.update(
        BEHOLDER_CAMERA_NETWORKS=TEST_CAMERA_NETWORKS,
        BEHOLDER_LOG_FORMAT="json",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{receiver.port}",
        OTEL_SERVICE_NAME=service,
        OTEL_BSP_SCHEDULE_DELAY="100",  # ms: export soon after each span ends
        **beholder,
    )
    return env


@asynccontextmanager
async def _beholder(role: str, env: dict[str, str], log: Path) -> AsyncIterator[Process]:
    """``beholder <role>`` running with ``env``, its log lines in ``log``; stopped with
    SIGTERM at the end, which must end it cleanly (exit 0, pending spans exported)."""
    with log.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "beholder",
            role,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log_file,
        )
        try:
            yield proc
        finally:
            if proc.returncode is None:
                proc.terminate()
            assert await asyncio.wait_for(proc.wait(), timeout=30) == 0, log.read_text()[-3000:]


async def _start_camera(
    base: str, procs: dict[Path, Process], rtsp: RtspServer, receiver: OtlpReceiver
) -> tuple[str, SpanTree]:
    """Sign in, add the ``two`` camera, start it; the camera start trace once the receiver
    has all of it. ``procs``: each process by its log file, whose tail a timeout prints."""

    def seen() -> str:
        logs = "\n".join(f"--- {path.name}\n{log_tail(path, 25)}" for path in procs)
        return f"the start trace over OTLP; got:\n{start_trace_outline(receiver.tree())}\n{logs}"

    async with httpx.AsyncClient(base_url=base, timeout=15) as client:

        async def ready() -> bool:
            assert all(p.returncode is None for p in procs.values()), "a beholder process exited"
            try:
                return (await client.get("/api/system/ready")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(ready, 60, "the api to be ready", every=0.2)
        r = await client.post(
            "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        headers = {"Authorization": f"Bearer {r.json()['accessToken']}"}
        r = await client.post(
            "/api/cameras",
            json={"name": "two", "rtspUrl": rtsp.url("two"), "faceDetectionEnabled": False},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        cid = str(r.json()["id"])
        r = await client.post(f"/api/cameras/{cid}/start", headers=headers)
        assert r.status_code == 202, r.text
        trace: SpanTree = await eventually(
            lambda: camera_start_trace(receiver.tree()),
            30,
            seen,
            every=0.2,
        )
    return cid, trace


async def test_serve_exports_the_camera_start_trace_over_otlp_http(
    tmp_path: Path, receiver: OtlpReceiver, rtsp_camera: RtspServer
) -> None:
    port = free_port()
    env = _env(
        receiver,
        "beholder-e2e",
        BEHOLDER_DATA_DIR=str(tmp_path / "data"),
        BEHOLDER_PORT=str(port),
        BEHOLDER_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    log_path = tmp_path / "serve.log"
    async with _beholder("serve", env, log_path) as proc:
        cid, trace = await _start_camera(
            f"http://127.0.0.1:{port}", {log_path: proc}, rtsp_camera, receiver
        )

    request = trace.named("POST /api/cameras/{camera_id}/start")[0]
    assert request.parent is None and request.kind == "SERVER"
    assert request.service == "beholder-e2e"
    assert request.resource["beholder.role"] == "serve"
    command = trace.child(request, "publish camera.commands")
    assert command.attributes["messaging.system"] == "memory"
    worker = trace.child(command, "process camera.commands")
    start = trace.child(worker, "worker session start")
    assert start.attributes["beholder.camera.id"] == cid
    assert trace.named("hub broadcast", **{"beholder.hub.topic": "cameras"})
    # probes are not traced by default
    assert not receiver.tree().named("GET /api/system/ready")

    # the access log line of that request names the same trace and span
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    access = [
        line
        for line in lines
        if line.get("event") == "request" and line.get("route") == "/api/cameras/{camera_id}/start"
    ]
    assert len(access) == 1, access
    assert access[0]["trace_id"] == request.trace_id
    assert access[0]["span_id"] == request.span_id
    assert access[0]["correlation_id"]
    # and the span carries the correlation id a user sees in an error answer
    assert request.attributes["beholder.correlation_id"] == access[0]["correlation_id"]
    tracing_on = [line for line in lines if line.get("event") == "tracing on"]
    assert tracing_on and tracing_on[0]["exporter"] == f"http://127.0.0.1:{receiver.port}"


async def test_api_and_worker_processes_share_one_trace_over_nats(
    tmp_path: Path,
    receiver: OtlpReceiver,
    rtsp_camera: RtspServer,
    nats_server: Callable[[str], NatsServer],
) -> None:
    """Distributed mode: ``beholder api`` and ``beholder worker`` on a private NATS server,
    each exporting as its own service; the trace crosses NATS in the message headers."""
    nats = nats_server("")
    port = free_port()
    api_env = _env(
        receiver,
        "beholder-api",
        BEHOLDER_DATA_DIR=str(tmp_path / "api"),
        BEHOLDER_PORT=str(port),
        BEHOLDER_ADMIN_PASSWORD=ADMIN_PASSWORD,
        BEHOLDER_BUS_URL=nats.url,
    )
    worker_env = _env(
        receiver,
        "beholder-worker",
        BEHOLDER_DATA_DIR=str(tmp_path / "worker"),
        BEHOLDER_BUS_URL=nats.url,
    )
    async with (
        _beholder("worker", worker_env, tmp_path / "worker.log") as worker,
        _beholder("api", api_env, tmp_path / "api.log") as api,
    ):
        cid, trace = await _start_camera(
            f"http://127.0.0.1:{port}",
            {tmp_path / "worker.log": worker, tmp_path / "api.log": api},
            rtsp_camera,
            receiver,
        )

    request = trace.named("POST /api/cameras/{camera_id}/start")[0]
    assert request.service == "beholder-api" and request.resource["beholder.role"] == "api"
    # Distributed mode: the request writes the camera's desired state to JetStream KV with its
    # trace context; the worker that takes the lease starts the session as a child of it.
    start = trace.child(request, "worker session start")
    assert start.service == "beholder-worker" and start.attributes["beholder.camera.id"] == cid
    assert start.resource["beholder.role"] == "worker"
    status = trace.child(start, "publish stream.status")
    assert status.service == "beholder-worker"
    back = trace.child(status, "process stream.status")
    assert back.service == "beholder-api" and back.attributes["messaging.system"] == "nats"
    assert trace.child(back, "persist status").service == "beholder-api"
