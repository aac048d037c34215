"""The api application factory (DESIGN §1, §6).

``create_app(settings)`` builds a FastAPI app: routers, the hub socket, middleware, the web
app (:mod:`beholder.api.web`) and a lifespan that runs every service of the instance
(:func:`beholder.api.lifecycle.running_services`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, WebSocket
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi

from beholder import __version__, tracing
from beholder.api.docs import mount_docs
from beholder.api.errors import install_error_handlers
from beholder.api.lifecycle import StartupFailed, running_services
from beholder.api.middleware.http import HttpMiddleware
from beholder.api.middleware.rate_limit import RateLimiter
from beholder.api.routers import (
    alerts,
    api_keys,
    audit,
    auth,
    cameras,
    client_errors,
    media,
    nvrs,
    stats,
    streams,
    system,
    users,
)
from beholder.api.state import AppState
from beholder.api.web import mount_web
from beholder.bus import Bus
from beholder.config import Settings
from beholder.contracts import hub as hub_messages
from beholder.contracts import nvr as nvr_messages
from beholder.contracts import relay as relay_messages
from beholder.errors import ErrorCode
from beholder.realtime.relay.service import Relay

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
    # Likewise the NVR agent socket's messages (/api/nvrs/ws), both directions.
    for name, nvr_schema in nvr_messages.openapi_components().items():
        comps.setdefault(name, nvr_schema)
    # Likewise the mobile relay's messages (/api/streams/ws), both directions.
    for name, relay_schema in relay_messages.openapi_components().items():
        comps.setdefault(name, relay_schema)
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
    ``settings.run_worker``) or ``api``. ``bus`` overrides the one from ``settings.bus``."""
    limiter = RateLimiter(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:  # first: a cluster must not run with its limits silently per instance
            await limiter.start()
        except Exception as exc:
            raise StartupFailed("rate-limit storage", exc) from exc
        services = running_services(settings, role=role, bus=bus, limiter=limiter, migrate=migrate)
        async with services as state:
            app.state.beholder = state
            yield

    app = FastAPI(
        title="Beholder",
        version=__version__,
        description="Self-hosted camera dashboard API. Errors always use the ErrorResponse shape.",
        openapi_url="/api/openapi.json",
        docs_url=None,  # beholder.api.docs serves it without a CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    app.openapi = lambda: _openapi_with_error_shape(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    for module in (auth, users, api_keys, cameras, alerts, streams, media, nvrs, stats, system):
        # Routers carry their full "/api/..." prefix so that route templates in logs and
        # metrics are the real paths.
        app.include_router(module.router)
    _include_optional_routers(app)
    app.include_router(client_errors.router)
    # A plain Starlette route: the hub needs no FastAPI dependencies, and this saves ~4 KB
    # per connection (bench/hub_fanout).
    app.router.add_websocket_route("/ws", _hub_endpoint)
    app.router.add_websocket_route("/api/streams/ws", _relay_endpoint)
    app.router.add_websocket_route("/api/nvrs/ws", _nvr_agent_endpoint)
    app.include_router(system.metrics_router)
    app.include_router(audit.router)
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
                "X-Beholder-Instance",
            ],
        )
    app.add_middleware(HttpMiddleware, max_bytes=settings.max_request_bytes, limiter=limiter)
    mount_docs(app)
    mount_web(app)
    tracing.instrument_app(app)
    return app


def _include_optional_routers(app: FastAPI) -> None:
    from beholder.api.routers import live, mjpeg

    app.include_router(live.router)
    app.include_router(mjpeg.router)


async def _hub_endpoint(websocket: WebSocket) -> None:
    state: AppState = websocket.app.state.beholder
    await state.hub.endpoint(websocket)


async def _relay_endpoint(websocket: WebSocket) -> None:
    """The mobile relay (:mod:`beholder.realtime.relay`); 1013 while it is not running."""
    state: AppState = websocket.app.state.beholder
    relay = state.relay
    if not isinstance(relay, Relay):
        await websocket.close(code=1013)
        return
    await relay.endpoint(websocket)


async def _nvr_agent_endpoint(websocket: WebSocket) -> None:
    """``/api/nvrs/ws``: the NVR agents' socket (:mod:`beholder.realtime.agents`)."""
    state: AppState = websocket.app.state.beholder
    if state.agents is None:
        await websocket.close(code=1013)
        return
    await state.agents.endpoint(websocket)


__all__ = ["ErrorCode", "create_app"]
