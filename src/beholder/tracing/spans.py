"""Span helpers: one attribute read and a shared no-op while tracing is off.

Messaging spans follow the OpenTelemetry messaging conventions: ``publish <subject>``
(kind PRODUCER, ``messaging.operation.type=send``) around a publish, ``process <subject>``
(kind CONSUMER, ``messaging.operation.type=process``) around a delivery, with
``messaging.system`` (``nats`` or ``memory``) and ``messaging.destination.name`` (the
subject). The trace context travels in the message headers through the configured
propagator (W3C ``traceparent`` and ``tracestate`` by default, ``OTEL_PROPAGATORS``).

A publish or delivery that is not part of a trace (no current span; a message without a
trace context) gets no span and no header: traces start at an entry point (an HTTP request,
a face detection), never at periodic traffic (heartbeats, stats refreshes, video frames).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from datetime import datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

__all__ = [
    "annotate",
    "consumer",
    "current_context",
    "detection_span",
    "enabled",
    "end_span",
    "persist_span",
    "producer",
    "record_error",
    "remote_context",
    "span",
    "start_span",
    "use_context",
]

Attributes = Mapping[str, str | int | float | bool]


class _State:
    """The tracer in force (``None`` while tracing is off); set by :mod:`.setup`."""

    tracer: Tracer | None = None


STATE = _State()
_NULL: contextlib.nullcontext[None] = contextlib.nullcontext()  # `with` and `async with`


def enabled() -> bool:
    """True when tracing is on in this process."""
    return STATE.tracer is not None


def _in_trace() -> bool:
    return trace.get_current_span().get_span_context().is_valid


def span(
    name: str,
    *,
    attributes: Attributes | None = None,
    start_time: int | None = None,
    only_in_trace: bool = False,
) -> AbstractContextManager[Span | None]:
    """``with span("persist status", attributes={...}) as s:`` an internal span, current for
    the block (an exception in the block is recorded on it and re-raised). ``start_time``:
    ns since the epoch (default now). ``only_in_trace``: no span when nothing is traced
    here (for code that also runs outside any trace). Yields ``None`` when there is no span.
    """
    tracer = STATE.tracer
    if tracer is None or (only_in_trace and not _in_trace()):
        return _NULL
    return tracer.start_as_current_span(name, attributes=attributes, start_time=start_time)


@contextlib.asynccontextmanager
async def _async_span(tracer: Tracer, name: str, attributes: Attributes) -> AsyncIterator[None]:
    with tracer.start_as_current_span(name, attributes=attributes):
        yield


def persist_span(
    what: str, camera_id: str | None, **attributes: str
) -> AbstractAsyncContextManager[Any]:
    """``async with persist_span("alert", camera_id), db.session() as s:`` a ``persist
    <what>`` span around the api's write of what a worker reported (its SQL statements are
    its children); ``attributes``: more span attributes (e.g. the status being stored).
    Only inside a trace (a message that carried a trace context)."""
    tracer = STATE.tracer
    if tracer is None or not _in_trace():
        return _NULL
    if camera_id:
        attributes["beholder.camera.id"] = camera_id
    return _async_span(tracer, f"persist {what}", attributes)


@contextlib.contextmanager
def _new_trace(tracer: Tracer, name: str, attributes: Attributes, start: int) -> Iterator[None]:
    with (
        _attached(Context()),
        tracer.start_as_current_span(name, attributes=attributes, start_time=start),
    ):
        yield


def detection_span(
    source: str, source_id: str, alert_id: str, faces: int, detected_at: datetime
) -> AbstractContextManager[None]:
    """``with detection_span("camera", camera_id, alert.id, len(alert.faces),
    alert.detected_at):`` a ``face detection`` span that starts a new trace (whatever the
    current one), from ``detected_at`` to the end of the block (the alert's publish). An
    alert's trace: detection → bus → persistence → broadcast. ``source``: ``camera`` or
    ``stream`` (attribute ``beholder.<source>.id``)."""
    tracer = STATE.tracer
    if tracer is None:
        return _NULL
    attributes: dict[str, str | int] = {
        f"beholder.{source}.id": source_id,
        "beholder.alert.id": alert_id,
        "beholder.faces": faces,
    }
    return _new_trace(tracer, "face detection", attributes, int(detected_at.timestamp() * 1e9))


def start_span(name: str, *, attributes: Attributes | None = None) -> Span | None:
    """An internal span, child of the current one, that the caller ends (``span.end()``);
    not made current. ``None`` while tracing is off."""
    tracer = STATE.tracer
    if tracer is None:
        return None
    return tracer.start_span(name, attributes=attributes)


def end_span(s: Span | None, error: str | None = None) -> None:
    """End ``s`` (if any), as failed with the user-safe ``error`` when given."""
    if s is not None:
        if error is not None:
            record_error(s, error)
        s.end()


def annotate(key: str, value: str) -> None:
    """Set attribute ``key`` on the current span, if one is being recorded."""
    if STATE.tracer is None:
        return
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attribute(key, value)


def record_error(s: Span | None, description: str) -> None:
    """Mark ``s`` (if any) as failed with a short, user-safe ``description``."""
    if s is not None:
        s.set_status(Status(StatusCode.ERROR, description))


def current_context(s: Span | None = None) -> Context | None:
    """The current trace context (or the one of span ``s``), to resume later with
    :func:`use_context`; ``None`` while tracing is off."""
    if STATE.tracer is None:
        return None
    if s is not None:
        return trace.set_span_in_context(s)
    return otel_context.get_current()


def remote_context(carrier: Mapping[str, str] | None) -> Context | None:
    """The trace context carried in ``carrier`` (W3C ``traceparent``/``tracestate``, as
    written by the configured propagator), to resume with :func:`use_context`; ``None``
    while tracing is off or when ``carrier`` holds no valid context."""
    if STATE.tracer is None or not carrier:
        return None
    ctx = propagate.extract(dict(carrier))
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


@contextlib.contextmanager
def _attached(ctx: Context) -> Iterator[None]:
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


def use_context(ctx: Context | None) -> AbstractContextManager[None]:
    """Run a block in trace context ``ctx`` (from :func:`current_context`), or outside any
    trace when ``ctx`` is ``None`` (so that a long-lived task never adds its periodic work to
    the trace it was started from)."""
    if STATE.tracer is None:
        return _NULL
    return _attached(ctx if ctx is not None else Context())


@contextlib.contextmanager
def _producer(
    tracer: Tracer, subject: str, system: str, headers: Mapping[str, str] | None, size: int
) -> Iterator[dict[str, str]]:
    with tracer.start_as_current_span(
        f"publish {subject}",
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": system,
            "messaging.destination.name": subject,
            "messaging.operation.type": "send",
            "messaging.operation.name": "publish",
            "messaging.message.body.size": size,
        },
    ):
        carrier = dict(headers or {})
        propagate.inject(carrier)
        yield carrier


def producer(
    subject: str, system: str, headers: Mapping[str, str] | None, size: int = 0
) -> AbstractContextManager[dict[str, str] | None]:
    """``with producer(subject, "nats", headers, len(data)) as traced:`` a PRODUCER span
    ``publish <subject>`` for the block; ``traced`` is ``headers`` plus the trace context
    (publish those), or ``None`` when this publish is not traced (publish ``headers``)."""
    tracer = STATE.tracer
    if tracer is None or not _in_trace():
        return _NULL
    return _producer(tracer, subject, system, headers, size)


def consumer(
    subject: str, system: str, headers: Mapping[str, str] | None, queue: str | None = None
) -> AbstractContextManager[Span | None]:
    """``with consumer(subject, "nats", msg.headers, queue):`` a CONSUMER span
    ``process <subject>`` around the handling of a delivered message, child of the span
    that published it (the trace context in ``headers``). No span when tracing is off or
    the message carries no trace context."""
    tracer = STATE.tracer
    if tracer is None or not headers:
        return _NULL
    parent = propagate.extract(headers)
    if not trace.get_current_span(parent).get_span_context().is_valid:
        return _NULL
    attributes: dict[str, str] = {
        "messaging.system": system,
        "messaging.destination.name": subject,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
    }
    if queue:
        attributes["messaging.consumer.group.name"] = queue
    return tracer.start_as_current_span(
        f"process {subject}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
    )
