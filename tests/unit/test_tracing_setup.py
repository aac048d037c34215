"""Tracing is off unless an OTLP endpoint is configured; off, it installs nothing and adds no
header; on, a log line written inside a span carries its trace and span ids."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path

import pytest
import structlog

from beholder import tracing
from beholder.api.app import create_app
from beholder.bus import BusMessage, MemoryBus
from beholder.bus.traced import TracedBus, traced_bus
from beholder.contracts.subjects import (
    mjpeg_keepalive_subject,
    mjpeg_subject,
    relay_frames_subject,
    snapshot_subject,
    untraced,
)
from beholder.messages import Subjects
from beholder.observability import configure_logging, correlation_id_var
from support.settings import make_settings
from support.tracing import finished, in_memory_tracing

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"OTEL_SERVICE_NAME": "cams"},  # a name alone does not turn it on
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "  "},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"},
    ],
)
def test_tracing_is_off_unless_an_endpoint_is_set(env: dict[str, str]) -> None:
    assert tracing.tracing_config(env) is None
    assert tracing.configure("serve", env=env) is False
    assert not tracing.enabled()


def test_either_otlp_endpoint_variable_turns_it_on() -> None:
    general = tracing.tracing_config({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert general is not None and general.service_name == "beholder"
    traces = tracing.tracing_config(
        {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://tempo:4318/v1/traces",
            "OTEL_SERVICE_NAME": "cams-east",
        }
    )
    assert traces is not None and traces.endpoint == "http://tempo:4318/v1/traces"
    assert traces.service_name == "cams-east"


async def test_off_installs_nothing_and_adds_no_header(tmp_path: Path) -> None:
    assert not tracing.enabled()
    app = create_app(make_settings(tmp_path))
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    bus = MemoryBus()
    assert traced_bus(bus) is bus
    await bus.start()
    got: asyncio.Queue[BusMessage] = asyncio.Queue()

    async def handler(msg: BusMessage) -> None:
        await got.put(msg)

    await bus.subscribe(Subjects.CAMERA_COMMANDS, handler)
    with tracing.span("not recorded") as span:
        assert span is None
        await bus.publish(Subjects.CAMERA_COMMANDS, b"{}", {"x": "1"})
    msg = await asyncio.wait_for(got.get(), 5)
    assert msg.headers == {"x": "1"}
    await bus.close()


async def test_on_the_app_is_instrumented_and_the_bus_wrapped(tmp_path: Path) -> None:
    with in_memory_tracing():
        app = create_app(make_settings(tmp_path))
        assert getattr(app, "_is_instrumented_by_opentelemetry", False)
        assert isinstance(traced_bus(MemoryBus()), TracedBus)
    assert not tracing.enabled()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/cameras"),
        ("POST", "/api/cameras/abc/start"),
        ("DELETE", "/api/cameras/abc"),
        ("PATCH", "/api/cameras"),
        ("GET", "/api/system/ready"),
        ("GET", "/cameras/abc"),
        ("GET", "/"),
        ("PURGE", "/api/cameras"),
        ("GET", "/ws"),
    ],
)
def test_the_cached_route_lookup_names_spans_as_the_instrumentation(
    tmp_path: Path, method: str, path: str
) -> None:
    from opentelemetry.instrumentation.fastapi import _get_default_span_details

    from beholder.tracing.setup import _route_span_details

    app = create_app(make_settings(tmp_path))
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "app": app}
    details = _route_span_details(app)
    assert details(scope) == _get_default_span_details(scope)
    assert details(scope) == _get_default_span_details(scope)  # from the cache


async def test_memory_bus_carries_traceparent_and_parents_the_consumer_span() -> None:
    with in_memory_tracing() as exporter:
        bus = traced_bus(MemoryBus())
        await bus.start()
        got: asyncio.Queue[BusMessage] = asyncio.Queue()

        async def handler(msg: BusMessage) -> None:
            with tracing.span("handled"):
                await got.put(msg)

        await bus.subscribe(Subjects.STREAM_STATUS, handler, queue="api")
        await bus.subscribe(Subjects.WORKER_HEARTBEAT, handler)
        # outside any trace: no span, no header
        await bus.publish(Subjects.STREAM_STATUS, b"periodic")
        assert (await asyncio.wait_for(got.get(), 5)).headers == {}
        with tracing.span("request"):
            await bus.publish(Subjects.STREAM_STATUS, b"traced", {"keep": "me"})
            # a per-frame / periodic subject is never traced
            await bus.publish(Subjects.WORKER_HEARTBEAT, b"beat")
        first = await asyncio.wait_for(got.get(), 5)
        second = await asyncio.wait_for(got.get(), 5)
        traced = first if first.data == b"traced" else second
        beat = second if traced is first else first
        assert TRACEPARENT.match(traced.headers["traceparent"])
        assert traced.headers["keep"] == "me"
        assert beat.headers == {}
        await bus.close()

    tree = finished(exporter)
    root = tree.named("request")[0]
    publish = tree.child(root, "publish stream.status")
    assert publish.kind == "PRODUCER"
    assert publish.attributes["messaging.system"] == "memory"
    assert publish.attributes["messaging.destination.name"] == "stream.status"
    assert traced.headers["traceparent"].split("-")[2] == publish.span_id
    process = tree.child(publish, "process stream.status")
    assert process.kind == "CONSUMER"
    assert process.attributes["messaging.consumer.group.name"] == "api"
    assert tree.child(process, "handled").trace_id == root.trace_id
    # the untraced deliveries were handled outside this trace
    assert tree.trace(root.trace_id).named("handled") == [tree.child(process, "handled")]
    assert not [s for s in tree.spans if "heartbeat" in s.name]


def test_a_log_line_in_a_span_carries_its_trace_and_span_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(make_settings(tmp_path, log_format="json"))
    log = structlog.get_logger("tracing-test")
    token = correlation_id_var.set("cid-123")
    try:
        with in_memory_tracing():
            log.info("outside")
            with tracing.span("work") as span:
                assert span is not None
                log.info("inside")
                logging.getLogger("stdlib").warning("stdlib inside")
    finally:
        correlation_id_var.reset(token)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    by_event = {line["event"]: line for line in lines}
    ctx = span.get_span_context()
    for event in ("inside", "stdlib inside"):
        assert by_event[event]["trace_id"] == format(ctx.trace_id, "032x")
        assert by_event[event]["span_id"] == format(ctx.span_id, "016x")
        assert by_event[event]["correlation_id"] == "cid-123"
    assert "trace_id" not in by_event["outside"] and "span_id" not in by_event["outside"]


CAM = "6f1c1d1e-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    ("subject", "traced"),
    [
        (Subjects.CAMERA_COMMANDS, True),
        (Subjects.STREAM_STATUS, True),
        (Subjects.CAMERA_EVENTS, True),
        (Subjects.HUB_BROADCAST, True),
        (snapshot_subject(CAM), True),
        (mjpeg_subject(CAM), False),  # a JPEG per frame
        (mjpeg_keepalive_subject(CAM), False),
        (relay_frames_subject(CAM), False),  # a phone's video frames
        (Subjects.WORKER_HEARTBEAT, False),  # periodic
    ],
)
def test_per_frame_and_periodic_subjects_are_never_traced(subject: str, traced: bool) -> None:
    assert untraced(subject) is not traced
