"""Turning tracing on and off: the SDK's tracer provider, the OTLP/HTTP exporter and the
FastAPI, SQLAlchemy and httpx instrumentations.

Tracing is on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)
is set, unless ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``. Everything else
is the SDK's own reading of the standard variables: ``OTEL_SERVICE_NAME`` (default here:
``beholder``), ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``/``_ARG``,
``OTEL_EXPORTER_OTLP_HEADERS``/``_TIMEOUT``/``_COMPRESSION``, ``OTEL_BSP_*``,
``OTEL_PROPAGATORS``, ``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS``.

The provider is Beholder's own (not installed as the process-global one): the
instrumentations are handed it explicitly, and :func:`shutdown` undoes everything, so one
process (a test run) can turn tracing on and off again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import structlog

from beholder.tracing.spans import STATE

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger(__name__)

DEFAULT_SERVICE_NAME = "beholder"
DEFAULT_EXCLUDED_URLS = ",".join(
    ("/metrics", "/api/system/ready", "/api/system/health", "/ws$", "/streams/ws$", "/nvrs/ws$")
)
"""Not traced unless ``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS`` says otherwise: probes and
scrapes (noise every few seconds) and the long-lived sockets (a span per connection would
last hours and collect everything done on it)."""


@dataclass(frozen=True, slots=True)
class TracingConfig:
    """What the environment asks for: the OTLP traces ``endpoint`` (as given, credentials
    in it never logged) and the ``service_name``."""

    endpoint: str
    service_name: str


class _Provider:
    provider: TracerProvider | None = None
    instrumented_engine: bool = False


_PROVIDER = _Provider()


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def tracing_config(env: Mapping[str, str] | None = None) -> TracingConfig | None:
    """The tracing ``env`` (default ``os.environ``) asks for, or ``None`` when it is off."""
    env = os.environ if env is None else env
    if _true(env.get("OTEL_SDK_DISABLED")):
        return None
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return None
    traces = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    endpoint = traces or env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if not endpoint:
        return None
    service = env.get("OTEL_SERVICE_NAME", "").strip() or DEFAULT_SERVICE_NAME
    return TracingConfig(endpoint=endpoint, service_name=service)


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def configure(
    role: str,
    *,
    exporter: SpanExporter | None = None,
    env: Mapping[str, str] | None = None,
) -> bool:
    """Turn tracing on for this process if ``env`` (default ``os.environ``) asks for it, or
    always with ``exporter`` (tests: spans are handed to it synchronously, as each ends).
    ``role`` (``serve``, ``api``, ``worker``) becomes the resource attribute
    ``beholder.role``. Returns whether tracing is on. Idempotent until :func:`shutdown`."""
    if STATE.tracer is not None:
        return True
    env = os.environ if env is None else env
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    from beholder import __version__

    processor: SpanProcessor
    if exporter is not None:
        processor = SimpleSpanProcessor(exporter)
        where = type(exporter).__name__
    else:
        config = tracing_config(env)
        if config is None:
            return False
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processor = BatchSpanProcessor(OTLPSpanExporter())
        where = _safe_url(config.endpoint)
    attributes: dict[str, Any] = {"service.version": __version__, "beholder.role": role}
    named = env.get("OTEL_SERVICE_NAME", "").strip() or "service.name=" in env.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    if not named:
        attributes["service.name"] = DEFAULT_SERVICE_NAME
    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME; the provider
    # reads OTEL_TRACES_SAMPLER(_ARG) itself.
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(processor)
    _PROVIDER.provider = provider
    STATE.tracer = provider.get_tracer("beholder", __version__)

    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    log.info(
        "tracing on",
        exporter=where,
        service=provider.resource.attributes.get("service.name"),
        sampler=type(provider.sampler).__name__,
    )
    return True


def instrument_app(app: Any) -> None:
    """Trace ``app``'s HTTP requests (FastAPI instrumentation: a SERVER span per request,
    named ``<METHOD> <route template>``). No-op while tracing is off."""
    provider = _PROVIDER.provider
    if provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    excluded = None
    if not (
        os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS")
        or os.environ.get("OTEL_PYTHON_EXCLUDED_URLS")
    ):
        excluded = DEFAULT_EXCLUDED_URLS
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls=excluded,
        # one span per request, not one more per ASGI message
        exclude_spans=["receive", "send"],
    )
    _cache_route_lookup(app)


def _cache_route_lookup(app: Any) -> None:
    """Name the SERVER spans from a route list flattened once, not on every request.

    The instrumentation finds the route template (span name and ``http.route``) by
    flattening ``app.routes`` (FastAPI's ``iter_route_contexts``, a new object per route and
    per included router) and matching the request against each, on every request: ~0.15 ms
    of CPU for ``GET /api/cameras``, more for the routes further down the list (the SPA
    fallback last). The routes are fixed once the app is built, so the flattened list is
    kept (and rebuilt if the route list ever changes), and the route of the last 1024
    distinct paths is remembered; the matching is the instrumentation's own, so names and
    attributes are the same."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    build = app.build_middleware_stack
    details = _route_span_details(app)

    def build_middleware_stack() -> Any:
        stack = build()
        otel = getattr(stack, "app", None)  # ServerErrorMiddleware(OpenTelemetryMiddleware)
        if isinstance(otel, OpenTelemetryMiddleware):
            otel.default_span_details = details
        return stack

    app.build_middleware_stack = build_middleware_stack


def _route_span_details(app: Any) -> Callable[[Any], tuple[str, dict[str, str]]]:
    """The FastAPI instrumentation's ``_get_default_span_details`` over a cached flattened
    route list."""
    from opentelemetry.instrumentation import fastapi as otel_fastapi
    from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE
    from opentelemetry.util.http import sanitize_method
    from starlette.routing import Match, Route

    flatten: Callable[[Any], Any] = getattr(otel_fastapi, "_flatten_routes", iter)
    cache: dict[str, Any] = {"key": None, "routes": []}

    def routes() -> list[Any]:
        current = app.routes
        key = (id(current), len(current))
        if cache["key"] != key:
            cache["routes"] = list(flatten(current))
            cache["key"] = key
        flat: list[Any] = cache["routes"]
        return flat

    def route_of(scope: Any) -> str | None:
        route: str | None = None
        for candidate in routes():
            match, _ = (
                Route.matches(candidate, scope)
                if isinstance(candidate, Route)
                else candidate.matches(scope)
            )
            if match == Match.FULL:
                route = getattr(candidate, "path", None) or scope.get("path")
                break
            if match == Match.PARTIAL:
                route = candidate.path
        return route

    seen: dict[tuple[Any, ...], str | None] = {}

    def details(scope: Any) -> tuple[str, dict[str, str]]:
        # the match depends on these alone (no host routes here); bounded: ids in paths
        key = (scope.get("type"), scope.get("method"), scope.get("root_path"), scope.get("path"))
        if cache["key"] != (id(app.routes), len(app.routes)) or len(seen) >= 1024:
            seen.clear()
        if key in seen:
            route = seen[key]
        else:
            route = seen[key] = route_of(scope)
        method = sanitize_method(str(scope.get("method", "")).strip())
        if method == "_OTHER":
            method = "HTTP"
        attributes: dict[str, str] = {HTTP_ROUTE: route} if route else {}
        if method and route:
            return f"{method} {route}", attributes
        return route or method, attributes

    return details


def instrument_engine(engine: AsyncEngine) -> None:
    """Trace ``engine``'s SQL statements (SQLAlchemy instrumentation: a CLIENT span per
    statement, child of the current span). No-op while tracing is off; one engine per
    process (the api's), a second one is left untraced."""
    provider = _PROVIDER.provider
    if provider is None or _PROVIDER.instrumented_engine:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # The instrumentation declares SQLAlchemy < 2.1 (its metadata lags): it only listens to
    # the engine's public events (before/after_cursor_execute, pool checkout…), which 2.1
    # keeps; tests/integration/test_tracing_spans.py proves the statements are traced.
    SQLAlchemyInstrumentor().instrument(
        engine=engine.sync_engine, tracer_provider=provider, skip_dep_check=True
    )
    _PROVIDER.instrumented_engine = True
    # Statements only: the instrumentation also wraps Engine.connect in a ``connect`` span,
    # one per session (a pool checkout of microseconds, no attribute the statement spans
    # lack), a third of the spans of a typical request (~0.1 ms of CPU to create and
    # export). A wait for a pool connection still shows as the gap before the first
    # statement. uninstrument() unwraps it again harmlessly.
    from opentelemetry.instrumentation.utils import unwrap
    from sqlalchemy.engine import Engine

    unwrap(Engine, "connect")


def shutdown() -> None:
    """Export what is pending (within the exporter's timeout), then turn tracing off and
    remove the instrumentations. Idempotent."""
    provider = _PROVIDER.provider
    if provider is None:
        return
    STATE.tracer = None
    _PROVIDER.provider = None
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().uninstrument()
    if _PROVIDER.instrumented_engine:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        SQLAlchemyInstrumentor().uninstrument()
        _PROVIDER.instrumented_engine = False
    provider.shutdown()
