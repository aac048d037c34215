"""``/api/system``: health (public), readiness (public, 503 until ready), stats, workers; and
``/metrics`` (Prometheus, outside ``/api``: :data:`metrics_router`).

Anonymous callers of health and readiness see the overall and per-service status only; the
version, the per-service details (backends, pool and hub counters, auth failures) and
timings are for a signed-in principal (:func:`public_health`)."""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from beholder import __version__
from beholder.api.deps import OptionalPrincipalDep, SessionDep, StateDep, ViewerDep
from beholder.api.errors import correlation_id
from beholder.api.instance import instance_id
from beholder.api.middleware.http import client_ip
from beholder.api.schemas import (
    ErrorResponse,
    HealthOut,
    ServiceHealthOut,
    StatsOut,
    WorkerOut,
    WorkersOut,
)
from beholder.api.scrape import refresh_gauges
from beholder.api.state import AppState
from beholder.auth.roles import Principal, Role
from beholder.config import reveal
from beholder.db.repositories import cameras as cameras_repo
from beholder.errors import ErrorCode, NotFound, PermissionDenied, Unauthorized, error_body

router = APIRouter(prefix="/api/system", tags=["system"])
metrics_router = APIRouter(include_in_schema=False)
"""``GET /metrics``: mounted next to :data:`router` (Prometheus scrapes outside ``/api``)."""


_PUBLIC_SERVICE_FIELDS = ("name", "status")


def public_service(service: dict[str, Any]) -> dict[str, Any]:
    """One service's entry as an anonymous caller sees it: ``{"name", "status"}``."""
    return {k: service[k] for k in _PUBLIC_SERVICE_FIELDS if k in service}


def public_health(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A health snapshot without internals: ``overall``/``status``, ``ready``, ``timestamp``
    and each service's name and status; no version, details or timings."""
    out = {k: v for k, v in snapshot.items() if k not in ("services", "version")}
    out["services"] = {n: public_service(s) for n, s in snapshot.get("services", {}).items()}
    return out


@router.get("/health", response_model=HealthOut, response_model_exclude_unset=True)
async def health(state: StateDep, principal: OptionalPrincipalDep) -> dict[str, Any]:
    """Last health check of every service and the overall status (public). Details and
    the version need credentials (any principal); invalid credentials get 401."""
    snap = {**state.health.snapshot(), "version": __version__}
    return snap if principal is not None else public_health(snap)


@router.get("/health/{service}", response_model=ServiceHealthOut, response_model_exclude_unset=True)
async def service_health(
    service: str, state: StateDep, principal: OptionalPrincipalDep
) -> dict[str, Any]:
    """One service: database, worker, websocket, bus or media (details as for health)."""
    res = state.health.results.get(service)
    if res is None:
        raise NotFound("Unknown service.", detail=f"service {service!r}")
    wire = res.to_wire()
    return wire if principal is not None else public_service(wire)


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
async def ready(request: Request, state: StateDep, principal: OptionalPrincipalDep) -> JSONResponse:
    """200 once the critical services (database, bus, websocket hub) are up, else 503; a
    database outage after start-up keeps 200 (:data:`beholder.health.SHARED`). Details and
    the version as for health."""
    snap = {**state.health.snapshot(), "version": __version__}
    if principal is None:
        snap = public_health(snap)
    if snap["ready"]:
        return JSONResponse(snap)
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
        "rateLimits": state.limiter.stats(),
    }
    return StatsOut(cameras=per, totals=totals, instance=instance_id())


@router.get("/workers", response_model=WorkersOut)
async def workers(_: ViewerDep, state: StateDep) -> WorkersOut:
    """The workers this api instance hears on the bus (every instance hears every worker):
    per worker its cameras, sessions, leases, CPU, detector load, dropped samples, egress
    figures and last heartbeat; alive ones first. A worker silent past the liveness grace
    (three heartbeat intervals) is listed with ``alive`` false for 5 minutes, then dropped.
    Viewer and above."""
    items = [WorkerOut.model_validate(v.to_wire()) for v in state.workers.listing()]
    return WorkersOut(items=items)


@metrics_router.get("/metrics")
async def metrics(request: Request, state: StateDep) -> Response:
    """Prometheus metrics; allowed for listed networks, the metrics token or an admin."""
    if not await _metrics_allowed(request, state):
        raise PermissionDenied("You may not read metrics.")
    await refresh_gauges(state)
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
    expected = reveal(settings.metrics_token)
    if expected and token and hmac.compare_digest(token, expected):
        return True
    credential = token or request.headers.get("x-api-key", "")
    if not credential:
        raise Unauthorized()
    principal: Principal = await state.auth.authenticate(credential)
    return principal.can(Role.ADMIN)
