"""``/api/nvrs``: the NVR fleet (issue 11). Viewers read; admins create, change and delete
NVRs and their agents' keys. Every change is persisted, then broadcast on the hub (topic
``nvrs``: ``nvr_status_update``/``nvr_deleted``; cameras on ``cameras``) and folded into the
debounced fleet summary. The agent socket ``/api/nvrs/ws`` is served elsewhere and calls
:class:`beholder.nvr.service.NvrService`."""

from __future__ import annotations

import contextlib
import shlex
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request, Response

from beholder.api.deps import AdminDep, SessionDep, StateDep, ViewerDep
from beholder.api.events import broadcast_camera, broadcast_camera_deleted
from beholder.api.fanout import fan_out
from beholder.api.revocation import announce_revocation
from beholder.api.schemas import ApiKeyOut, Page
from beholder.api.state import AppState
from beholder.api.views import camera_dict, camera_out, sees_precise_status
from beholder.auth.api_keys import generate_api_key
from beholder.auth.audit import changed_fields, record
from beholder.contracts import hub as hub_messages
from beholder.contracts.audit import AuditAction, AuditTarget
from beholder.contracts.auth import RevocationReason
from beholder.contracts.nvr import (
    DeleteCameras,
    NvrCameraList,
    NvrCreate,
    NvrKeyCreate,
    NvrKeyCreated,
    NvrList,
    NvrOut,
    NvrPatch,
    NvrStatus,
)
from beholder.db.models import Nvr
from beholder.db.repositories import api_keys as keys_repo
from beholder.db.repositories import cameras as cameras_repo
from beholder.db.repositories import nvrs as nvrs_repo
from beholder.errors import BusError, InvalidInput
from beholder.messages import CameraCommand, CommandType
from beholder.nvr.views import nvr_out

router = APIRouter(prefix="/api/nvrs", tags=["nvrs"])

Limit = Annotated[int, Query(ge=1, le=500, description="items per page")]
Cursor = Annotated[str | None, Query(max_length=512, description="from the previous page")]


async def _view(session: SessionDep, nvr: Nvr) -> NvrOut:
    tally = (await nvrs_repo.camera_tallies(session, [nvr.id]))[nvr.id]
    return nvr_out(nvr, tally)


async def _announce(state: AppState, nvr: NvrOut) -> None:
    await fan_out(state, "nvrs", hub_messages.nvr_status_update(nvr))
    state.fleet.summary.poke()


@router.get("", response_model=NvrList)
async def list_nvrs(
    _: ViewerDep,
    session: SessionDep,
    status: Annotated[NvrStatus | None, Query()] = None,
    region: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=128, description="text in hostname, name…")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> NvrList:
    """NVRs by hostname, filtered; ``counts`` per status and region over the text filter
    alone (the filter chips' numbers). 400 INVALID_INPUT for a bad cursor."""
    flt = nvrs_repo.NvrFilter(status=status, region=region, q=q or None)
    rows, next_cursor = await nvrs_repo.page(session, flt, limit, cursor)
    tallies = await nvrs_repo.camera_tallies(session, [r.id for r in rows])
    counts = await nvrs_repo.counts(session, flt.q)
    return NvrList.model_validate(
        {
            "items": [nvr_out(r, tallies[r.id]) for r in rows],
            "nextCursor": next_cursor,
            "counts": counts,
        }
    )


@router.post("", response_model=NvrOut, status_code=201)
async def create_nvr(
    body: NvrCreate, principal: AdminDep, session: SessionDep, state: StateDep
) -> NvrOut:
    """Add an NVR (``offline`` until its agent registers); 409 CONFLICT on a taken
    hostname. Then create its agent's key with ``POST /api/nvrs/{id}/keys``."""
    nvr = await nvrs_repo.create(session, **body.model_dump())
    record(
        session,
        AuditAction.NVR_CREATE,
        principal,
        target_type=AuditTarget.NVR,
        target_id=nvr.id,
        details={"hostname": nvr.hostname},
    )
    out = await _view(session, nvr)
    await session.commit()
    await _announce(state, out)
    return out


@router.get("/{nvr_id}", response_model=NvrOut)
async def get_nvr(nvr_id: str, _: ViewerDep, session: SessionDep) -> NvrOut:
    return await _view(session, await nvrs_repo.get(session, nvr_id))


@router.patch("/{nvr_id}", response_model=NvrOut)
async def update_nvr(
    nvr_id: str, body: NvrPatch, principal: AdminDep, session: SessionDep, state: StateDep
) -> NvrOut:
    """Change the given fields (``null`` clears device name, region or site; the hostname
    cannot be cleared). 409 CONFLICT on a taken hostname. An agent registers under its
    NVR's hostname: change it in the agent's ``nvr.yaml`` too."""
    nvr = await nvrs_repo.get(session, nvr_id)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("hostname", "") is None:
        raise InvalidInput("An NVR needs a hostname.")
    await nvrs_repo.update_fields(session, nvr, changes)
    record(
        session,
        AuditAction.NVR_UPDATE,
        principal,
        target_type=AuditTarget.NVR,
        target_id=nvr.id,
        details=changed_fields(changes),
    )
    out = await _view(session, nvr)
    await session.commit()
    await _announce(state, out)
    return out


@router.delete("/{nvr_id}", status_code=204, response_class=Response)
async def delete_nvr(
    nvr_id: str,
    principal: AdminDep,
    session: SessionDep,
    state: StateDep,
    cameras: Annotated[
        DeleteCameras | None,
        Query(
            description="required: `detach` keeps the cameras (without NVR), `delete` "
            "stops and deletes them"
        ),
    ] = None,
) -> Response:
    """Delete an NVR, its agent keys (their sockets close) and its NVR alerts; its cameras
    are detached or deleted as ``cameras`` says (400 INVALID_INPUT when it is missing:
    nothing is ever orphaned silently)."""
    if cameras is None:
        raise InvalidInput(
            "Say what to do with the NVR's cameras: ?cameras=detach keeps them as cameras "
            "without an NVR, ?cameras=delete stops and deletes them."
        )
    nvr = await nvrs_repo.get(session, nvr_id)
    keys = [k.id for k in await keys_repo.of_nvr(session, nvr_id)]
    if cameras == "delete":
        # Stopping must not depend on the bus; a worker drops cameras it no longer knows.
        for cam in await cameras_repo.of_nvr(session, nvr_id):
            cmd = CameraCommand(command_type=CommandType.STOP_STREAM, camera_id=cam.id)
            with contextlib.suppress(BusError):
                await state.dispatcher.send(cmd, None)
    camera_ids = await nvrs_repo.delete_nvr(session, nvr, cameras)
    record(
        session,
        AuditAction.NVR_DELETE,
        principal,
        target_type=AuditTarget.NVR,
        target_id=nvr_id,
        details={"hostname": nvr.hostname, "cameras": cameras, "keysRevoked": len(keys)},
    )
    await session.commit()
    for key_id in keys:
        await announce_revocation(state, "api_key", key_id, RevocationReason.KEY_REVOKED)
    if cameras == "delete":
        for camera_id in camera_ids:
            await broadcast_camera_deleted(state, camera_id)
    else:
        for camera_id in camera_ids:
            detached = await cameras_repo.find(session, camera_id)
            if detached is not None:
                await broadcast_camera(state, camera_out(detached))
    await fan_out(state, "nvrs", hub_messages.nvr_deleted(nvr_id))
    state.fleet.summary.poke()
    return Response(status_code=204)


@router.get("/{nvr_id}/cameras", response_model=NvrCameraList)
async def list_nvr_cameras(
    nvr_id: str,
    principal: ViewerDep,
    session: SessionDep,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    """The NVR's cameras by channel, then name (404 NOT_FOUND for an unknown NVR)."""
    await nvrs_repo.get(session, nvr_id)
    rows, next_cursor = await cameras_repo.nvr_page(session, nvr_id, limit, cursor)
    precise = sees_precise_status(principal)
    body = {"items": [camera_dict(r, precise=precise) for r in rows], "nextCursor": next_cursor}
    return Response(orjson.dumps(body), media_type="application/json")


@router.post("/{nvr_id}/keys", response_model=NvrKeyCreated, status_code=201)
async def create_nvr_key(
    nvr_id: str,
    principal: AdminDep,
    session: SessionDep,
    request: Request,
    body: NvrKeyCreate | None = None,
) -> NvrKeyCreated:
    """A new API key of scope ``nvr`` bound to this NVR (it may only register this NVR's
    hostname and touch its cameras). ``key`` is shown this once; ``installCommand`` runs
    the agent with it against this server's address as the request reached it."""
    nvr = await nvrs_repo.get(session, nvr_id)
    name = (body.name if body and body.name else None) or f"nvr-{nvr.hostname}"[:128]
    full, prefix, digest = generate_api_key()
    owner = principal.id if principal.kind == "user" else None
    row = await keys_repo.create(
        session, name, "nvr", owner, prefix=prefix, digest=digest, nvr_id=nvr_id
    )
    record(
        session,
        AuditAction.NVR_KEY_CREATE,
        principal,
        target_type=AuditTarget.API_KEY,
        target_id=row.id,
        details={"name": row.name, "nvrId": nvr_id},
    )
    await session.commit()
    server = str(request.base_url).rstrip("/")
    command = shlex.join(
        ["beholder", "nvr-agent", "--server", server, "--api-key", full, "--config", "nvr.yaml"]
    )
    return NvrKeyCreated(
        key=full,
        key_id=row.id,
        name=row.name,
        nvr_id=nvr_id,
        install_command=command,
        created_at=row.created_at,
    )


@router.get("/{nvr_id}/keys", response_model=Page[ApiKeyOut])
async def list_nvr_keys(nvr_id: str, _: AdminDep, session: SessionDep) -> Page[ApiKeyOut]:
    """The NVR's agent keys, newest first (revoke one with ``POST
    /api/api-keys/{id}/revoke``)."""
    await nvrs_repo.get(session, nvr_id)
    rows = await keys_repo.of_nvr(session, nvr_id)
    return Page(items=[ApiKeyOut.model_validate(k) for k in rows])
