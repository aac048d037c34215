"""``/api/system``: health (public), readiness (public, 503 until ready), stats; and
``/metrics`` (Prometheus, outside ``/api``: :data:`metrics_router`)."""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from beholder import __version__
from beholder.api.deps import SessionDep, StateDep, ViewerDep
from beholder.api.errors import correlation_id
from beholder.api.middleware.http import client_ip
from beholder.api.schemas import ErrorResponse, HealthOut, ServiceHealthOut, StatsOut
from beholder.api.state import AppState
from beholder.auth.roles import Principal, Role
from beholder.db.repositories import cameras as cameras_repo
from beholder.errors import ErrorCode, NotFound, PermissionDenied, Unauthorized, error_body
from beholder.observability import (
    DB_POOL_CHECKED_OUT,
    DB_POOL_IDLE,
    HUB_CONNECTIONS,
    HUB_DROPPED,
    HUB_SENT,
)

router = APIRouter(prefix="/api/system", tags=["system"])
metrics_router = APIRouter(include_in_schema=False)
"""``GET /metrics``: mounted next to :data:`router` (Prometheus scrapes outside ``/api``)."""


@router.get("/health", response_model=HealthOut)
async def health(state: StateDep) -> dict[str, Any]:
    """Last health check of every service and the overall status (public)."""
    return {**state.health.snapshot(), "version": __version__}


@router.get("/health/{service}", response_model=ServiceHealthOut)
async def service_health(service: str, state: StateDep) -> dict[str, Any]:
    """One service: database, worker, websocket, bus or media."""
    res = state.health.results.get(service)
    if res is None:
        raise NotFound("Unknown service.", detail=f"service {service!r}")
    return res.to_wire()


@router.get(
    "/ready",
    responses={
        200: {"description": "ready", "model": HealthOut},
        503: {
            "description": "not ready: error shape plus per-service detail",
            "model": ErrorResponse,
        },
    },
)
async def ready(request: Request, state: StateDep) -> JSONResponse:
    """200 once the critical services (database, bus, websocket hub) are up, else 503."""
    snap = state.health.snapshot()
    if snap["ready"]:
        return JSONResponse({**snap, "version": __version__})
    body = {
        **error_body(
            ErrorCode.SERVICE_UNAVAILABLE, "Beholder is starting up.", correlation_id(request)
        ),
        "ready": False,
        "status": snap["status"],
        "services": snap["services"],
    }
    return JSONResponse(body, status_code=503)


@router.get("/stats", response_model=StatsOut)
async def stats(_: ViewerDep, session: SessionDep, state: StateDep) -> StatsOut:
    """Per-camera figures reported by the workers, and totals."""
    cams = await cameras_repo.list_all(session)
    per: dict[str, dict[str, Any]] = {}
    running = 0
    for cam in cams:
        per[cam.id] = {"name": cam.name, "status": cam.status, "stats": cam.stats or {}}
        running += cam.status in ("STARTING", "CONNECTING", "PROCESSING")
    totals: dict[str, Any] = {
        "cameras": len(cams),
        "running": running,
        "hub": state.hub.stats(),
        "bus": state.bus.stats(),
        "workers": len(state.workers.alive()),
    }
    return StatsOut(cameras=per, totals=totals)


@metrics_router.get("/metrics")
async def metrics(request: Request, state: StateDep) -> Response:
    """Prometheus metrics; allowed for listed networks, the metrics token or an admin."""
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
    """True for a client in ``metrics_allow``, the ``metrics_token`` bearer or an admin's
    credentials; ``False`` for another principal; raises ``Unauthorized`` without any."""
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
