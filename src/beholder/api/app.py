"""The api application factory and its lifespan (DESIGN §1, §6).

``create_app(settings)`` builds a FastAPI app whose lifespan prepares the data dir, applies
migrations, creates the first admin, connects the bus, starts the hub, the bus consumers,
the health checker and (for ``serve``) the in-process worker, then reconciles cameras.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, Request, WebSocket
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.staticfiles import StaticFiles

from beholder import __version__
from beholder.api.errors import install_error_handlers
from beholder.api.events import EventConsumers, fan_out
from beholder.api.middleware.http import HttpMiddleware, client_ip
from beholder.api.middleware.rate_limit import RateLimiter
from beholder.api.reconcile import reconcile_cameras
from beholder.api.routers import alerts, api_keys, auth, cameras, system, users
from beholder.api.state import AppState
from beholder.api.views import alert_message
from beholder.auth.roles import Principal, Role
from beholder.auth.service import AuthService
from beholder.auth.tokens import TokenService, load_or_create_secret
from beholder.bootstrap import ensure_admin
from beholder.bus import Bus, create_bus
from beholder.config import Settings
from beholder.contracts import hub as hub_messages
from beholder.db.engine import Database
from beholder.db.migrate import upgrade_async
from beholder.db.repositories import alerts as alerts_repo
from beholder.errors import ErrorCode, PermissionDenied, Unauthorized
from beholder.health import (
    HealthChecker,
    HealthStatus,
    WorkerTracker,
    bus_check,
    media_check,
    worker_check,
)
from beholder.observability import (
    DB_POOL_CHECKED_OUT,
    DB_POOL_IDLE,
    HUB_CONNECTIONS,
    HUB_DROPPED,
    HUB_SENT,
)
from beholder.realtime.hub import Hub

log = structlog.get_logger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

_ERROR_STATUSES = ("400", "401", "403", "404", "409", "413", "429", "500", "503")


def _openapi_with_error_shape(app: FastAPI) -> dict[str, Any]:
    """OpenAPI where every operation documents the one error shape (and no 422)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for path_item in schema.get("paths", {}).values():
        for op in path_item.values():
            responses = op.setdefault("responses", {})
            responses.pop("422", None)
            for status in _ERROR_STATUSES:
                responses.setdefault(
                    status,
                    {"description": "Error", "content": {"application/json": {"schema": ref}}},
                )
    comps = schema.setdefault("components", {}).setdefault("schemas", {})
    comps.pop("HTTPValidationError", None)
    comps.pop("ValidationError", None)
    from beholder.api.schemas import ErrorResponse

    comps.update(
        ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}").pop(
            "$defs", {}
        )
    )
    comps["ErrorResponse"] = ErrorResponse.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    # The hub's messages are not REST bodies; publish them so clients generate their types.
    for name, hub_schema in hub_messages.openapi_components().items():
        comps.setdefault(name, hub_schema)
    app.openapi_schema = schema
    return schema


def create_app(
    settings: Settings,
    *,
    role: str = "serve",
    bus: Bus | None = None,
    migrate: bool = True,
) -> FastAPI:
    """Build the app. ``role`` is ``serve`` (runs the worker in-process when
    ``settings.run_worker``) or ``api``. ``bus`` overrides the one from ``bus_url``."""
    limiter = RateLimiter(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await _start(app, settings, role, bus, limiter, migrate)
        app.state.beholder = state
        try:
            yield
        finally:
            await _stop(state)

    app = FastAPI(
        title="Beholder",
        version=__version__,
        description="Self-hosted camera dashboard API. Errors always use the ErrorResponse shape.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.openapi = lambda: _openapi_with_error_shape(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    for module in (auth, users, api_keys, cameras, alerts, system):
        # Routers carry their full "/api/..." prefix so that route templates in logs and
        # metrics are the real paths.
        app.include_router(module.router)
    _include_optional_routers(app)
    # A plain Starlette route: the hub needs no FastAPI dependencies, and this saves ~4 KB
    # per connection (bench/hub_fanout).
    app.router.add_websocket_route("/ws", _hub_endpoint)
    app.add_api_route("/metrics", _metrics, methods=["GET"], include_in_schema=False)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Correlation-ID"],
            expose_headers=[
                "X-Correlation-ID",
                "Location",
                "Retry-After",
                "Link",
                "ETag",
                "X-Beholder-Egress",
            ],
        )
    app.add_middleware(HttpMiddleware, max_bytes=settings.max_request_bytes, limiter=limiter)
    _mount_web(app)
    return app


def _include_optional_routers(app: FastAPI) -> None:
    from beholder.api.routers import live, mjpeg

    app.include_router(live.router)
    app.include_router(mjpeg.router)


async def _hub_endpoint(websocket: WebSocket) -> None:
    state: AppState = websocket.app.state.beholder
    await state.hub.endpoint(websocket)


async def _metrics(request: Request) -> Response:
    """Prometheus metrics; allowed for listed networks, the metrics token or an admin."""
    state: AppState = request.app.state.beholder
    if not await _metrics_allowed(request, state):
        raise PermissionDenied("You may not read metrics.")
    hub = state.hub.stats()
    HUB_CONNECTIONS.set(hub.get("connections", 0))
    HUB_SENT.set(hub.get("sent", 0))
    HUB_DROPPED.set(hub.get("dropped", 0))
    pool = state.db.pool_status()
    DB_POOL_CHECKED_OUT.set(pool["checkedOut"])
    DB_POOL_IDLE.set(pool["idle"])
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _metrics_allowed(request: Request, state: AppState) -> bool:
    settings = state.settings
    ip = client_ip(request.scope)
    with contextlib.suppress(ValueError):
        addr = ipaddress.ip_address(ip)
        if any(addr in ipaddress.ip_network(net, strict=False) for net in settings.metrics_allow):
            return True
    header = request.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else ""
    if settings.metrics_token and token and hmac.compare_digest(token, settings.metrics_token):
        return True
    credential = token or request.headers.get("x-api-key", "")
    if not credential:
        raise Unauthorized()
    principal: Principal = await state.auth.authenticate(credential)
    return principal.can(Role.ADMIN)


def _mount_web(app: FastAPI) -> None:
    """Serve the built web app at ``/`` with client-side routing fallback."""
    index = WEB_DIR / "index.html"
    assets = WEB_DIR / "assets"
    if assets.is_dir():
        app.mount("/assets", StaticFiles(directory=assets), name="assets")

    async def spa(full_path: str) -> Response:
        if full_path.startswith(("api/", "ws", "metrics")):
            from beholder.errors import NotFound

            raise NotFound()
        candidate = (WEB_DIR / full_path).resolve()
        if full_path and candidate.is_file() and WEB_DIR.resolve() in candidate.parents:
            return FileResponse(candidate)
        if index.is_file():
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(
            "<!doctype html><title>Beholder</title><h1>Beholder</h1>"
            "<p>The web app is not built. Run <code>make run</code> (it builds "
            "<code>frontend/</code>), or use the API at <a href='/api/docs'>/api/docs</a>.</p>",
            status_code=200,
        )

    app.add_api_route("/{full_path:path}", spa, methods=["GET"], include_in_schema=False)


async def _start(
    app: FastAPI,
    settings: Settings,
    role: str,
    bus_override: Bus | None,
    limiter: RateLimiter,
    migrate: bool,
) -> AppState:
    t0 = time.perf_counter()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secret = settings.secret_key or load_or_create_secret(settings.secret_file)
    if migrate:
        await upgrade_async(settings.resolved_database_url)
    db = Database(settings)
    await ensure_admin(db, settings)
    bus = bus_override or create_bus(settings.bus_url)
    await bus.start()
    auth_service = AuthService(
        db, TokenService(secret, settings.access_token_ttl, settings.refresh_token_ttl)
    )
    started = time.monotonic()

    async def replay(last_alert_id: str, limit: int) -> list[dict[str, Any]]:
        async with db.session() as s:
            rows = await alerts_repo.after(s, last_alert_id, limit)
            return [alert_message(r) for r in rows]

    hub = Hub(settings.hub, auth_service.authenticate, replay)
    await hub.start()
    workers = WorkerTracker(settings.worker.heartbeat_interval)
    grace = max(3 * settings.worker.heartbeat_interval, 5.0)

    async def db_check() -> tuple[HealthStatus, dict[str, Any]]:
        rtt = await db.ping()
        details: dict[str, Any] = {"backend": db.dialect, "rttMs": round(rtt * 1000, 2)}
        details.update(db.pool_status())
        return (HealthStatus.HEALTHY if rtt < 0.5 else HealthStatus.DEGRADED), details

    async def hub_check() -> tuple[HealthStatus, dict[str, Any]]:
        return HealthStatus.HEALTHY, hub.stats()

    state_holder: list[AppState] = []

    async def on_health_change(snapshot: dict[str, Any]) -> None:
        if state_holder:
            await fan_out(state_holder[0], "health", hub_messages.health_update(snapshot))

    health = HealthChecker(
        {
            "database": db_check,
            "worker": worker_check(workers, started, grace),
            "websocket": hub_check,
            "bus": bus_check(bus),
            "media": media_check(workers, started, grace),
        },
        interval=settings.health_interval,
        on_change=on_health_change,
    )
    state = AppState(
        settings=settings,
        db=db,
        bus=bus,
        auth=auth_service,
        hub=hub,
        health=health,
        workers=workers,
        limiter=limiter,
    )
    state_holder.append(state)
    state.consumers = EventConsumers(state)
    await state.consumers.start()
    if role == "serve" and settings.run_worker:
        from beholder.worker.egress.hub import start_egress
        from beholder.worker.manager import WorkerManager

        state.worker = WorkerManager(settings.worker, bus)
        await state.worker.start()
        state.egress = await start_egress(state.worker, bus, settings.live_view)
    await health.check_now()
    health.start()
    # Reconciliation waits for a worker ping; it must not hold up readiness.
    state.background.append(asyncio.create_task(_reconcile_safely(state)))
    log.info(
        "api started",
        role=role,
        database=db.dialect,
        bus=bus.name,
        startup_ms=round((time.perf_counter() - t0) * 1000, 1),
    )
    return state


async def _reconcile_safely(state: AppState) -> None:
    try:
        await reconcile_cameras(state)
    except Exception:
        log.exception("camera reconciliation failed")


async def _stop(state: AppState) -> None:
    for task in state.background:
        task.cancel()
    await state.health.stop()
    if state.consumers is not None:
        await state.consumers.stop()
    if state.egress is not None:
        with contextlib.suppress(Exception):
            await state.egress.close()
    if state.worker is not None:
        with contextlib.suppress(Exception):
            await state.worker.stop()
    await state.hub.close()
    await state.bus.close()
    await state.db.dispose()
    log.info("api stopped")


__all__ = ["ErrorCode", "create_app"]
