"""``/api/streams``: mobile streams (issue 10): register, list, get with live consumers,
rename / face detection on-off, delete (closes its relay sockets).

Who (DESIGN §10, mobile streams belong to their owner; :mod:`beholder.auth.ownership`):

* any signed-in user (viewer and up) registers and manages its own streams; an admin sees
  and manages every stream;
* an API key with scope ``mobile`` registers streams it owns (``owner_key_id``, acting for
  the key's owner) and manages them;
* an ``ml-service`` key reads its owner's streams but changes nothing (403);
* ``worker`` and ``nvr`` keys: 403 on every route;
* someone else's stream (or an id that is not a stream) answers 404, never 403.

Live figures (``viewers``, ``mlConsumers``, ``consumers``) come from ``state.relay``.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from beholder.api.deps import SessionDep, StateDep, ViewerDep
from beholder.api.schemas import (
    ConsumerOut,
    LegacyStreamList,
    StreamDetailOut,
    StreamList,
    StreamOut,
    StreamPatch,
    StreamRegister,
    StreamRegistered,
    StreamStatus,
)
from beholder.api.state import AppState
from beholder.api.views import stream_out
from beholder.auth.audit import record
from beholder.auth.ownership import owned_streams, owns_stream
from beholder.auth.roles import ApiKeyScope, Principal
from beholder.contracts.audit import AuditAction, AuditTarget
from beholder.contracts.bus import StreamDetectionCommand
from beholder.contracts.resources import metadata_size
from beholder.contracts.subjects import Subjects
from beholder.contracts.wire import is_id
from beholder.db.models import VideoStream
from beholder.db.repositories import streams as streams_repo
from beholder.errors import BusError, Conflict, InvalidInput, NotFound, PermissionDenied

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/streams", tags=["streams"])

LEGACY_LIST_MAX = 1000
"""Streams ``GET /api/streams/list`` returns at most (the original plan's unpaged list)."""


async def _reader(principal: ViewerDep) -> Principal:
    """Users, ``mobile`` and ``ml-service`` keys read streams; other keys: 403."""
    if principal.kind == "user" or principal.scope in (ApiKeyScope.MOBILE, ApiKeyScope.ML_SERVICE):
        return principal
    raise PermissionDenied(
        "This API key cannot use mobile streams.", detail=f"{principal.key} scope"
    )


def _may_change(principal: Principal) -> Principal:
    """Users and ``mobile`` keys register and change streams; other keys: 403."""
    if principal.kind == "user" or principal.scope is ApiKeyScope.MOBILE:
        return principal
    raise PermissionDenied(
        "This API key cannot register or change streams.", detail=f"{principal.key} scope"
    )


async def _registrar(principal: ViewerDep) -> Principal:
    return _may_change(principal)


ReaderDep = Annotated[Principal, Depends(_reader)]
"""Users and ``mobile``/``ml-service`` keys (checked before the body is read)."""
RegistrarDep = Annotated[Principal, Depends(_registrar)]
"""Users and ``mobile`` keys (checked before the body is read)."""


def _out(state: AppState, stream: VideoStream) -> StreamOut:
    return stream_out(stream, state.relay.counts(stream.id))


async def _owned(session: AsyncSession, principal: Principal, stream_id: str) -> VideoStream:
    """The stream if ``principal`` owns it; 404 otherwise (also for a non-UUID id)."""
    stream = await streams_repo.find(session, stream_id.lower()) if is_id(stream_id) else None
    if stream is None or not owns_stream(principal, stream):
        raise NotFound("Stream not found.", detail=f"stream {stream_id!r} not owned or absent")
    return stream


@router.post("/register", response_model=StreamRegistered, status_code=201)
async def register_stream(
    body: StreamRegister, principal: RegistrarDep, session: SessionDep, state: StateDep
) -> StreamRegistered:
    """Register a phone's stream (status ``offline`` until its producer connects to
    ``/api/streams/ws``). At most ``BEHOLDER_RELAY_MAX_STREAMS_PER_PRINCIPAL`` streams per
    user or key (409 beyond)."""
    _may_change(principal)  # after the 404: someone else's stream is not found
    owner_id: str | None
    owner_key_id: str | None
    if principal.kind == "user":
        owner_id, owner_key_id = principal.id, None
        mine = VideoStream.owner_id == principal.id
    else:
        owner_id, owner_key_id = principal.owner_id, principal.id
        mine = VideoStream.owner_key_id == principal.id
    max_meta = state.settings.relay.max_metadata_bytes
    if body.metadata and metadata_size(body.metadata) > max_meta:
        raise InvalidInput(f"metadata: at most {max_meta} bytes as JSON")
    limit = state.settings.relay.max_streams_per_principal
    if await streams_repo.count_owned(session, mine) >= limit:
        raise Conflict(f"You already have {limit} streams; delete one before registering another.")
    stream = await streams_repo.create(
        session,
        body.device_name,
        owner_id=owner_id,
        owner_key_id=owner_key_id,
        device_type=body.device_type,
        metadata=body.metadata,
    )
    record(
        session,
        AuditAction.STREAM_CREATE,
        principal,
        target_type=AuditTarget.STREAM,
        target_id=stream.id,
        details={"deviceName": stream.device_name},
    )
    await session.commit()
    return StreamRegistered(stream_id=stream.id, stream=_out(state, stream))


@router.get("", response_model=StreamList)
async def list_streams(
    principal: ReaderDep,
    session: SessionDep,
    state: StateDep,
    status: StreamStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> StreamList:
    """The caller's streams (admins: all) newest first; ``nextCursor`` → ``cursor``."""
    rows, next_cursor = await streams_repo.list_owned(
        session, owned_streams(principal), status=status, limit=limit, cursor=cursor
    )
    return StreamList(items=[_out(state, r) for r in rows], next_cursor=next_cursor)


@router.get("/list", response_model=LegacyStreamList, deprecated=True)
async def list_streams_legacy(
    principal: ReaderDep, session: SessionDep, state: StateDep
) -> LegacyStreamList:
    """The original plan's ``{"streams": [...]}`` (newest first, at most 1000). Use
    ``GET /api/streams`` (paged) instead."""
    rows, _ = await streams_repo.list_owned(
        session, owned_streams(principal), limit=LEGACY_LIST_MAX
    )
    return LegacyStreamList(streams=[_out(state, r) for r in rows])


@router.get("/{stream_id}", response_model=StreamDetailOut)
async def get_stream(
    stream_id: str, principal: ReaderDep, session: SessionDep, state: StateDep
) -> StreamDetailOut:
    """A stream with its consumer sockets on this api instance and their figures."""
    stream = await _owned(session, principal, stream_id)
    consumers = [
        ConsumerOut(
            connection_id=c.connection_id,
            client_type=c.client_type,
            principal=c.principal,
            consumes=list(c.consumes),
            frames_sent=c.frames_sent,
            frames_dropped=c.frames_dropped,
            queued_bytes=c.queued_bytes,
        )
        for c in state.relay.consumers(stream.id)
    ]
    base = _out(state, stream)
    return StreamDetailOut.model_construct(
        **{name: getattr(base, name) for name in StreamOut.model_fields}, consumers=consumers
    )


@router.patch("/{stream_id}", response_model=StreamOut)
async def update_stream(
    stream_id: str, body: StreamPatch, principal: ReaderDep, session: SessionDep, state: StateDep
) -> StreamOut:
    """Rename the stream and/or switch the built-in face detector on or off (workers are
    told on ``stream.detection``; 503 when the bus refuses, nothing changed)."""
    stream = await _owned(session, principal, stream_id)
    _may_change(principal)  # after the 404: someone else's stream is not found
    toggled = (
        body.face_detection_enabled is not None
        and body.face_detection_enabled != stream.face_detection_enabled
    )
    stream = await streams_repo.update(
        session,
        stream.id,
        device_name=body.device_name,
        face_detection_enabled=body.face_detection_enabled,
    )
    if toggled:
        await publish_detection(state, stream)
    record(
        session,
        AuditAction.STREAM_UPDATE,
        principal,
        target_type=AuditTarget.STREAM,
        target_id=stream.id,
        details={"changed": sorted(body.model_dump(exclude_unset=True))},
    )
    await session.commit()
    return _out(state, stream)


async def publish_detection(
    state: AppState, stream: VideoStream, enabled: bool | None = None
) -> None:
    """Tell workers to analyse ``stream`` (or stop): a :class:`StreamDetectionCommand` on
    ``stream.detection``; ``enabled`` defaults to the stream's setting. ``BusError``."""
    command = StreamDetectionCommand(
        stream_id=stream.id,
        enabled=stream.face_detection_enabled if enabled is None else enabled,
        device_name=stream.device_name,
    )
    await state.bus.publish(Subjects.STREAM_DETECTION, command.to_bytes())


@router.delete("/{stream_id}", status_code=204, response_class=Response)
async def delete_stream(
    stream_id: str, principal: ReaderDep, session: SessionDep, state: StateDep
) -> Response:
    """Delete the stream and its alerts, then close its relay sockets on every api instance
    (``stream-deleted``, close code 4404)."""
    stream = await _owned(session, principal, stream_id)
    _may_change(principal)  # after the 404: someone else's stream is not found
    detecting = stream.face_detection_enabled
    await streams_repo.remove(session, stream.id)
    record(
        session,
        AuditAction.STREAM_DELETE,
        principal,
        target_type=AuditTarget.STREAM,
        target_id=stream.id,
        details={"deviceName": stream.device_name},
    )
    await session.commit()
    await state.relay.close_stream(stream.id)
    if detecting:
        try:
            await publish_detection(state, stream, enabled=False)
        except BusError:  # deleted already; a worker stops when the stream's frames stop
            log.warning("could not tell workers a deleted stream is gone", stream_id=stream.id)
    return Response(status_code=204)
