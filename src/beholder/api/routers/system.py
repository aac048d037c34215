"""``/api/system``: health (public), readiness (public, 503 until ready), stats."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from beholder import __version__
from beholder.api.deps import SessionDep, StateDep, ViewerDep
from beholder.api.errors import correlation_id
from beholder.api.schemas import ErrorResponse, HealthOut, ServiceHealthOut, StatsOut
from beholder.db.repositories import cameras as cameras_repo
from beholder.errors import ErrorCode, NotFound, error_body

router = APIRouter(prefix="/api/system", tags=["system"])


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
