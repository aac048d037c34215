"""Live view endpoints: WHEP (WebRTC playback, IETF RFC 9725 style).

The api never touches media: it authorizes the viewer, checks the camera in the database and
relays signalling over the bus to the worker that holds the camera (subjects and models in
:mod:`beholder.contracts.live`). Routes (mounted under ``/api``):

* ``POST /cameras/{id}/whep`` — body ``application/sdp`` offer → ``201 Created``,
  ``application/sdp`` answer, ``Location: /api/cameras/{id}/whep/{session}``, ``Link`` headers
  for configured STUN/TURN servers, ``X-Beholder-Egress: passthrough|transcode``.
  404 unknown camera, 409 camera stopped, 503 ``STREAM_UNAVAILABLE`` not producing / no worker,
  503 ``SERVICE_UNAVAILABLE`` viewer limit, 429 ``RATE_LIMIT_EXCEEDED`` the caller already
  holds ``webrtc_max_sessions_per_principal`` sessions (on any worker of a cluster:
  :mod:`beholder.worker.egress.quota`; with ``Retry-After``), 400 ``INVALID_INPUT`` unusable
  SDP.
* ``DELETE /cameras/{id}/whep/{session}`` — hang up → 200.
* ``PATCH`` on a session → 405 (no trickle ICE / ICE restart: the answer carries every
  candidate); ``OPTIONS`` on both → 204 with ``Allow`` (and ``Accept-Post`` on the endpoint).
* ``POST /cameras/{id}/whep/{session}/renew`` (extension) — move the session's expiry to the
  caller's current token expiry; the worker otherwise hangs up when the token used for the
  POST expires. A session opened with an API key expires after a few re-check periods
  unless renewed (this api instance renews it while the key is good).

Every session is leased by principal on the api instance that opened it
(:mod:`beholder.api.revocation`): revoking the key, disabling, deleting or demoting the user
hangs it up on the worker within a second.

The MJPEG fallback (``GET /cameras/{id}/mjpeg``) is in :mod:`beholder.api.routers.mjpeg`; it
shares this module's camera checks and worker-request helpers.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from beholder.api.deps import StateDep, ViewerDep
from beholder.api.revocation import lease_whep_session, whep_session_closed, whep_session_expiry
from beholder.auth.roles import Role
from beholder.bus.base import Bus
from beholder.config import LiveViewSettings, reveal
from beholder.contracts.live import EgressReply, WhepAnswer, WhepDelete, WhepOffer, WhepRenew
from beholder.contracts.subjects import (
    whep_delete_subject,
    whep_renew_subject,
    whep_subject,
)
from beholder.contracts.wire import is_id
from beholder.db.repositories import cameras as cameras_repo
from beholder.errors import (
    AppError,
    BusError,
    Conflict,
    ErrorCode,
    InvalidInput,
    NotFound,
    RateLimitExceeded,
    StreamUnavailable,
)
from beholder.messages import CameraStatus

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["live"])

MAX_OFFER_BYTES = 64 * 1024
SESSION_LIMIT_RETRY_S = 5
"""``Retry-After`` when the caller holds too many sessions: about how soon one ends after
its viewer leaves (a closed peer connection frees its slot at once; a vanished one within
the idle timeout)."""
SESSION_ALLOW = "OPTIONS, DELETE"
ENDPOINT_ALLOW = "OPTIONS, POST"

CameraId = Annotated[str, Path(description="Camera id (UUID)")]
SessionId = Annotated[str, Path(description="WHEP session id returned in Location")]

_SDP = {"content": {"application/sdp": {"schema": {"type": "string"}}}}


def _check_ids(*ids: str) -> None:
    for value in ids:
        if not is_id(value):  # ids are UUIDs; the bus models refuse anything else
            raise NotFound("Not found.")


async def require_live_camera(state: Any, camera_id: str) -> None:
    """Raise ``NotFound`` (unknown), ``Conflict`` (stopped) or ``StreamUnavailable`` (starting,
    reconnecting, failed) unless the camera is being processed."""
    _check_ids(camera_id)
    async with state.db.session() as s:
        cam = await cameras_repo.get(s, camera_id)
        status = str(cam.status)
    if status == CameraStatus.PROCESSING:
        return
    if status in (CameraStatus.STARTING, CameraStatus.CONNECTING, CameraStatus.ERROR):
        raise StreamUnavailable(
            "The camera is not streaming yet. Try again in a moment.", detail=f"status={status}"
        )
    raise Conflict(
        "The camera is not running. Start it to watch it live.", detail=f"status={status}"
    )


async def request_worker(bus: Bus, subject: str, data: bytes, wait: float) -> bytes:
    """Bus request to the worker holding a camera (``wait`` seconds); no reply raises
    ``StreamUnavailable``."""
    try:
        return await bus.request(subject, data, timeout=wait)
    except BusError as exc:
        raise StreamUnavailable(
            "The camera is not being served right now. Try again in a moment.",
            detail=f"no egress reply on {subject}: {exc.detail or exc}",
        ) from exc


async def _session_request(bus: Bus, subject: str, data: bytes, es: LiveViewSettings) -> None:
    """Ask the worker to act on an existing WHEP session (hang up, renew). No worker
    answering means no such session: ``NotFound``; a refusal raises its own error."""
    try:
        raw = await bus.request(subject, data, timeout=es.webrtc_signal_timeout)
    except BusError as exc:
        raise NotFound("This live view session does not exist.", detail=str(exc)) from exc
    reply = EgressReply.from_bytes(raw)
    if not reply.ok:
        raise AppError.from_code(
            reply.error_code, reply.message, detail=f"worker refused: {reply.error_code}"
        )


def _link_headers(urls: list[str], es: LiveViewSettings) -> list[str]:
    links: list[str] = []
    for url in urls:
        link = f'<{url}>; rel="ice-server"'
        if url.startswith(("turn:", "turns:")) and es.webrtc_turn_username:
            credential = reveal(es.webrtc_turn_password) or ""
            link += (
                f'; username="{es.webrtc_turn_username}"'
                f'; credential="{credential}"; credential-type="password"'
            )
        links.append(link)
    return links


@router.post(
    "/cameras/{camera_id}/whep",
    status_code=201,
    response_class=Response,
    openapi_extra={"requestBody": {"required": True, **_SDP}},
    responses={201: {"description": "SDP answer; session URL in Location", **_SDP}},
    summary="Start watching a camera (WHEP)",
)
async def whep_offer(
    camera_id: CameraId, request: Request, state: StateDep, principal: ViewerDep
) -> Response:
    """WHEP offer → answer. See the module docstring for status codes."""
    epoch = state.connections.epoch  # a revocation from here on still ends the session
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != "application/sdp":
        raise InvalidInput(
            "The offer must be sent as application/sdp.", detail=f"content-type {ctype!r}"
        )
    body = await request.body()
    if len(body) > MAX_OFFER_BYTES:
        raise AppError(code=ErrorCode.PAYLOAD_TOO_LARGE, detail=f"offer of {len(body)} bytes")
    try:
        sdp = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("The offer is not valid SDP.", detail="offer not UTF-8") from exc
    if not sdp.lstrip().startswith("v=0") or "m=video" not in sdp:
        raise InvalidInput("The offer is not a WebRTC video offer (SDP).", detail="bad SDP head")
    await require_live_camera(state, camera_id)
    es = state.settings.live_view
    offer = WhepOffer(
        camera_id=camera_id,
        sdp=sdp,
        principal=principal.key,
        expires_at=whep_session_expiry(principal, state.settings),
        client=request.client.host if request.client else None,
    )
    raw = await request_worker(
        state.bus, whep_subject(camera_id), offer.to_bytes(), es.webrtc_signal_timeout
    )
    reply = WhepAnswer.from_bytes(raw)
    if reply.error_code == ErrorCode.RATE_LIMIT_EXCEEDED.value:
        raise RateLimitExceeded(
            SESSION_LIMIT_RETRY_S, message=reply.message, detail="worker: sessions per principal"
        )
    if not reply.ok or not reply.session_id or not reply.sdp:
        raise AppError.from_code(
            reply.error_code, reply.message, detail=f"worker refused: {reply.error_code}"
        )
    assert reply.session_id is not None and reply.sdp is not None
    lease_whep_session(state, principal, camera_id, reply.session_id, epoch=epoch)
    location = request.url_for(
        "whep_session_delete", camera_id=camera_id, session_id=reply.session_id
    )
    headers = {
        "Location": location.path,
        "ETag": f'"{reply.session_id}"',
        "X-Beholder-Egress": reply.egress or "passthrough",
    }
    response = Response(
        content=reply.sdp, status_code=201, media_type="application/sdp", headers=headers
    )
    for link in _link_headers(reply.ice_servers, es):
        response.headers.append("Link", link)
    return response


@router.options("/cameras/{camera_id}/whep", status_code=204, response_class=Response)
async def whep_endpoint_options(camera_id: CameraId) -> Response:
    """What the WHEP endpoint accepts (no authentication needed)."""
    return Response(
        status_code=204, headers={"Allow": ENDPOINT_ALLOW, "Accept-Post": "application/sdp"}
    )


@router.delete(
    "/cameras/{camera_id}/whep/{session_id}",
    name="whep_session_delete",
    response_class=Response,
    summary="Stop watching (WHEP hang up)",
)
async def whep_delete(
    camera_id: CameraId,
    session_id: SessionId,
    request: Request,
    state: StateDep,
    principal: ViewerDep,
) -> Response:
    """End the session. 404 when it does not exist (any more)."""
    _check_ids(camera_id, session_id)
    es = state.settings.live_view
    req = WhepDelete(
        camera_id=camera_id,
        session_id=session_id,
        principal=principal.key,
        any_owner=principal.can(Role.OPERATOR),
    )
    await _session_request(state.bus, whep_delete_subject(camera_id), req.to_bytes(), es)
    whep_session_closed(state, session_id)
    return Response(status_code=200)


@router.options("/cameras/{camera_id}/whep/{session_id}", status_code=204, response_class=Response)
async def whep_session_options(camera_id: CameraId, session_id: SessionId) -> Response:
    """What a WHEP session resource accepts."""
    return Response(status_code=204, headers={"Allow": SESSION_ALLOW})


@router.patch("/cameras/{camera_id}/whep/{session_id}", response_class=Response)
async def whep_patch(camera_id: CameraId, session_id: SessionId, principal: ViewerDep) -> Response:
    """Trickle ICE and ICE restart are not supported: always 405 (the answer is complete)."""
    raise AppError(
        "Trickle ICE and ICE restart are not supported; start a new session.",
        code=ErrorCode.METHOD_NOT_ALLOWED,
        headers={"Allow": SESSION_ALLOW},
    )


@router.api_route(
    "/cameras/{camera_id}/whep", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
async def whep_endpoint_other(camera_id: CameraId) -> Response:
    """Methods the WHEP endpoint does not support: 405 with ``Allow``."""
    raise AppError(code=ErrorCode.METHOD_NOT_ALLOWED, headers={"Allow": ENDPOINT_ALLOW})


@router.api_route(
    "/cameras/{camera_id}/whep/{session_id}",
    methods=["GET", "PUT", "POST"],
    include_in_schema=False,
)
async def whep_session_other(camera_id: CameraId, session_id: SessionId) -> Response:
    """Methods a WHEP session resource does not support: 405 with ``Allow``."""
    raise AppError(code=ErrorCode.METHOD_NOT_ALLOWED, headers={"Allow": SESSION_ALLOW})


@router.post("/cameras/{camera_id}/whep/{session_id}/renew", summary="Extend a WHEP session")
async def whep_renew(
    camera_id: CameraId,
    session_id: SessionId,
    request: Request,
    state: StateDep,
    principal: ViewerDep,
) -> dict[str, Any]:
    """Move the session's expiry to the expiry of the token of this request (after a token
    refresh; an API key's session: a re-check period on) → ``{"sessionId", "expiresAt"}``."""
    _check_ids(camera_id, session_id)
    es = state.settings.live_view
    expires_at = whep_session_expiry(principal, state.settings)
    req = WhepRenew(
        camera_id=camera_id,
        session_id=session_id,
        principal=principal.key,
        any_owner=False,
        expires_at=expires_at,
    )
    await _session_request(state.bus, whep_renew_subject(camera_id), req.to_bytes(), es)
    lease_whep_session(state, principal, camera_id, session_id)
    return {"sessionId": session_id, "expiresAt": expires_at}
