"""Distributed tracing (OpenTelemetry), off unless an OTLP endpoint is configured.

Turned on by the standard variables (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``; ``OTEL_SERVICE_NAME``, ``OTEL_TRACES_SAMPLER``,
``OTEL_BSP_*``, ``OTEL_PROPAGATORS`` … as the SDK reads them): see :mod:`.setup` and
docs/TRACING.md. While off, every helper here returns a shared no-op at the cost of one
attribute read, so hot paths (per frame, per hub message) build no span objects.

Helpers for the code that creates spans (the bus wrapper, the worker session, the api's
bus consumers, the hub):

* :func:`span` / :func:`start_span`: an internal span, child of the current one;
* :func:`producer` / :func:`consumer`: the messaging spans around a bus publish and a bus
  delivery, carrying the W3C ``traceparent``/``tracestate`` in the message headers;
* :func:`current_context` / :func:`use_context`: hand a trace over to a later task.

This package sits in the lowest layer (beside :mod:`beholder.observability`): it knows
neither the bus nor the api.
"""

from __future__ import annotations

from beholder.tracing.setup import (
    TracingConfig,
    configure,
    instrument_app,
    instrument_engine,
    shutdown,
    tracing_config,
)
from beholder.tracing.spans import (
    annotate,
    consumer,
    current_context,
    detection_span,
    enabled,
    end_span,
    persist_span,
    producer,
    record_error,
    remote_context,
    span,
    start_span,
    use_context,
)

__all__ = [
    "TracingConfig",
    "annotate",
    "configure",
    "consumer",
    "current_context",
    "detection_span",
    "enabled",
    "end_span",
    "instrument_app",
    "instrument_engine",
    "persist_span",
    "producer",
    "record_error",
    "remote_context",
    "shutdown",
    "span",
    "start_span",
    "tracing_config",
    "use_context",
]
