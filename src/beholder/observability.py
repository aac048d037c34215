"""Structured logging (structlog) and the Prometheus metrics of the api.

Logs are JSON lines, or console-friendly when stderr is a TTY (``BEHOLDER_LOG_FORMAT``).
The correlation id of the current request is bound in a context variable and appears on
every log line emitted while handling it; inside a tracing span (:mod:`beholder.tracing`)
the line also carries ``trace_id`` (32 hex digits) and ``span_id`` (16 hex digits).
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

import structlog
from opentelemetry import trace
from prometheus_client import Counter, Gauge, Histogram

from beholder.config import Settings

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def _add_correlation_id(
    _logger: object, _name: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    cid = correlation_id_var.get()
    if cid is not None and "correlation_id" not in event:
        event["correlation_id"] = cid
    return event


def add_trace_ids(
    _logger: object, _name: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """structlog processor: ``trace_id``/``span_id`` (hex, as tracing backends show them) of
    the current span, when there is one (never while tracing is off)."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid and "trace_id" not in event:
        event["trace_id"] = format(ctx.trace_id, "032x")
        event["span_id"] = format(ctx.span_id, "016x")
    return event


def configure_logging(settings: Settings) -> None:
    """Route stdlib logging and structlog through one renderer (JSON or console)."""
    fmt = settings.log_format
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_correlation_id,
        add_trace_ids,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # Plain tracebacks whatever is installed: with rich present the console renderer draws
    # every frame's local variables, which hold secrets and took seconds per exception.
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if fmt == "json" else _identity,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # uvicorn's own access log is replaced by ours (one line per request, with route+cid).
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for noisy in ("aiosqlite", "sqlalchemy.engine", "asyncio", "aioice", "aiortc", "libav"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _identity(
    _logger: object, _name: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    return event


# --- metrics (default registry; one set per process) ---

HTTP_REQUESTS = Counter(
    "beholder_http_requests_total",
    "HTTP requests by method, route template and status",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "beholder_http_request_duration_seconds",
    "HTTP request latency by method and route template",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
HUB_CONNECTIONS = Gauge("beholder_hub_connections", "Open dashboard hub connections")
HUB_SENT = Gauge("beholder_hub_messages_sent", "Hub messages sent (cumulative)")
HUB_DROPPED = Gauge("beholder_hub_messages_dropped", "Hub messages dropped (cumulative)")
BUS_MESSAGES = Counter(
    "beholder_bus_messages_total", "Bus messages handled by the api by subject", ["subject"]
)
BUS_REFUSED = Counter(
    "beholder_bus_messages_refused_total",
    "Bus messages the api refused (malformed payload, bad id, unknown camera) by subject",
    ["subject", "reason"],
)
DB_POOL_CHECKED_OUT = Gauge("beholder_db_pool_checked_out", "DB connections in use")
DB_POOL_IDLE = Gauge("beholder_db_pool_idle", "Idle DB connections in the pool")
HEALTH_STATUS = Gauge(
    "beholder_health_status",
    "Health per service (0 unknown, 1 starting, 2 healthy, 3 degraded, 4 unhealthy)",
    ["service"],
)
DB_POOL_SIZE = Gauge(
    "beholder_db_pool_size",
    "Most DB connections the pool may open (pool size + overflow; 0 for SQLite, which has none)",
)
HEALTH_FAILURES = Gauge(
    "beholder_health_check_failures",
    "Consecutive failed (UNHEALTHY) health checks per service; 0 after a passing check",
    ["service"],
)
CAMERAS = Gauge(
    "beholder_cameras",
    "Cameras by their last reported lifecycle status (as stored by the api)",
    ["status"],
)
WORKERS_ALIVE = Gauge(
    "beholder_workers_alive", "Workers whose heartbeat this api heard within 3 intervals"
)
WORKER_HEARTBEAT_AGE = Gauge(
    "beholder_worker_heartbeat_age_seconds",
    "Seconds since this api heard the latest heartbeat of any worker (since its start if none)",
)
BUS_PENDING = Gauge(
    "beholder_bus_pending_messages",
    "Messages delivered to this process's bus subscriptions and not yet handled (consumer lag)",
)
BUS_BACKLOG = Gauge(
    "beholder_bus_backlog_messages",
    "Messages of a durable stream not yet acknowledged by its consumer group, as JetStream "
    "counts them (stored but not delivered + delivered but unacknowledged), by consumer",
    ["consumer"],
)
BUS_OUTBOX = Gauge(
    "beholder_bus_outbox_messages",
    "Durable messages (alerts, status events) this process holds until JetStream "
    "acknowledges them; they accumulate while NATS is unreachable",
)
SNAPSHOT_DISK_USED = Gauge(
    "beholder_snapshot_disk_used_bytes", "Bytes used on the file system holding alert snapshots"
)
SNAPSHOT_DISK_SIZE = Gauge(
    "beholder_snapshot_disk_size_bytes", "Size in bytes of the file system holding alert snapshots"
)
