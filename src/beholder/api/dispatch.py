"""Camera commands from the api to the worker that runs the camera (DESIGN §5, issue 12).

* ``serve`` (and any bus without JetStream): :class:`BusDispatcher` publishes the
  :class:`CameraCommand` on ``camera.commands``; the in-process worker consumes it.
* Distributed mode (:class:`~beholder.bus.nats.NatsBus`): :class:`DesiredStateDispatcher`
  writes the camera's desired state into the JetStream KV bucket ``beholder_cameras``
  (:class:`CameraAssignment` under ``camera.<id>``); the workers place cameras among
  themselves and the lease holder applies the change. A command therefore reaches the worker
  that holds the camera, never a random queue member.

  ========================  ==============================================================
  command                   KV write
  ========================  ==============================================================
  START_STREAM              put ``{spec, restartToken}`` (the existing token kept)
  RESTART_STREAM            put ``{spec, restartToken}`` with a new token (holder restarts)
  TOGGLE_FACE_DETECTION     the entry's ``spec.faceDetectionEnabled`` updated (no entry:
                            nothing to do, the camera is not meant to run)
  STOP_STREAM               the key deleted; :attr:`Dispatched.held` says whether a worker
                            holds a lease (it reports STOPPED; otherwise the api does)
  ========================  ==============================================================

  Every write is a compare-and-set on the entry's revision (retried on a lost race), so two
  api instances writing the same camera at once never lose a restart token. Each carries
  the command's ``correlationId`` and the current W3C trace context (``traceparent`` /
  ``tracestate``, through the OpenTelemetry propagator) so the worker's session joins the
  request's trace.

Errors: :class:`~beholder.errors.BusError` (503 in the error shape) when NATS cannot be
reached or has no JetStream.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import structlog
from opentelemetry import propagate

from beholder.bus.base import Bus
from beholder.bus.kv import KvBucket, KvEntry
from beholder.config import ClusterSettings
from beholder.contracts.bus import CameraCommand, CameraSpec, CommandType
from beholder.contracts.cluster import Buckets, CameraAssignment, camera_key, camera_of_key
from beholder.contracts.subjects import Subjects
from beholder.contracts.wire import new_id, utcnow
from beholder.errors import BusError

if TYPE_CHECKING:
    from beholder.bus.nats import NatsBus

log = structlog.get_logger(__name__)

_CAS_ATTEMPTS = 8
"""Compare-and-set retries of one write (each lost race means another writer just wrote)."""


@dataclass(frozen=True, slots=True)
class Dispatched:
    """What :meth:`CameraDispatcher.send` knows after sending: ``held`` is ``False`` when no
    worker holds the camera (a STOP then has nobody to report STOPPED), ``None`` when the
    bus cannot tell (``serve``: the worker reports)."""

    held: bool | None = None


class CameraDispatcher(Protocol):
    """Sends camera commands to the worker that runs the camera (see the module doc)."""

    async def send(self, cmd: CameraCommand, spec: CameraSpec | None) -> Dispatched:
        """Send ``cmd`` (``spec``: the camera's for START/RESTART, else ``None``); raises
        ``BusError``."""
        ...


class BusDispatcher:
    """``serve``: every command published on ``camera.commands`` (as before issue 12)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def send(self, cmd: CameraCommand, spec: CameraSpec | None) -> Dispatched:
        await self.bus.publish(Subjects.CAMERA_COMMANDS, cmd.to_bytes())
        return Dispatched()


def trace_context() -> dict[str, str]:
    """The current W3C trace context (``traceparent``/``tracestate``), empty outside a trace."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


class DesiredStateDispatcher:
    """Distributed mode: commands become desired-state writes in ``beholder_cameras``
    (module doc). The buckets are opened on first use (a NATS server without JetStream
    fails the command with ``BusError``, not the api's start-up)."""

    def __init__(self, nats: NatsBus, cluster: ClusterSettings) -> None:
        self._nats = nats
        self._cluster = cluster
        self._buckets: dict[str, KvBucket] = {}
        self._lock = asyncio.Lock()

    async def bucket(self, name: str) -> KvBucket:
        """The KV bucket ``name`` (:class:`Buckets`), opened once with the cluster's TTLs."""
        found = self._buckets.get(name)
        if found is not None:
            return found
        async with self._lock:
            if name not in self._buckets:
                ttl = {
                    Buckets.LEASES: self._cluster.lease_ttl,
                    Buckets.WORKERS: self._cluster.registry_ttl,
                }.get(name)
                self._buckets[name] = await KvBucket.open(
                    self._nats.jetstream(),
                    name,
                    ttl=ttl,
                    replicas=self._cluster.stream_replicas,
                )
            return self._buckets[name]

    async def send(self, cmd: CameraCommand, spec: CameraSpec | None) -> Dispatched:
        kind = cmd.command_type
        if kind is CommandType.STOP_STREAM:
            return Dispatched(held=await self.remove(cmd.camera_id))
        if kind is CommandType.TOGGLE_FACE_DETECTION:
            enabled = bool(cmd.payload.get("enabled"))
            await self._modify(cmd, lambda a: _with_face_detection(a, enabled), create=None)
            return Dispatched()
        if spec is None:
            spec = CameraSpec.model_validate(cmd.payload)
        restart = kind is CommandType.RESTART_STREAM
        await self._modify(cmd, lambda a: _assigned(a, spec, restart=restart), create=spec)
        return Dispatched()

    async def _modify(
        self,
        cmd: CameraCommand,
        change: _Change,
        create: CameraSpec | None,
    ) -> None:
        """Read-modify-write of the camera's entry by compare-and-set; ``create``: the spec
        to write when there is no entry (``None``: leave it absent)."""
        cameras = await self.bucket(Buckets.CAMERAS)
        key = camera_key(cmd.camera_id)
        trace = trace_context()
        for _ in range(_CAS_ATTEMPTS):
            entry = await cameras.get(key)
            if entry is None:
                if create is None:
                    return
                fresh = CameraAssignment(
                    spec=create, correlation_id=cmd.correlation_id, trace_context=trace
                )
                if await cameras.create(key, fresh.to_bytes()) is not None:
                    return
                continue
            current = CameraAssignment.from_bytes(entry.value)
            updated = change(current).model_copy(
                update={
                    "correlation_id": cmd.correlation_id,
                    "trace_context": trace,
                    "updated_at": utcnow(),
                }
            )
            if await cameras.update(key, updated.to_bytes(), entry.revision) is not None:
                return
        raise BusError(detail=f"desired state of camera {cmd.camera_id}: too many lost races")

    async def remove(self, camera_id: str) -> bool:
        """Delete the camera's desired state; whether a worker holds its lease now."""
        cameras = await self.bucket(Buckets.CAMERAS)
        await cameras.delete(camera_key(camera_id))
        leases = await self.bucket(Buckets.LEASES)
        return await leases.get(camera_key(camera_id)) is not None

    # -- reconcile (beholder.api.reconcile) --------------------------------------------------

    async def desired(self) -> dict[str, KvEntry]:
        """Every desired-state entry by camera id."""
        cameras = await self.bucket(Buckets.CAMERAS)
        found = {}
        for key, entry in (await cameras.entries()).items():
            camera_id = camera_of_key(key)
            if camera_id is not None:
                found[camera_id] = entry
        return found

    async def held(self) -> set[str]:
        """The ids of the cameras a worker holds a lease of now."""
        leases = await self.bucket(Buckets.LEASES)
        return {c for c in map(camera_of_key, (await leases.entries()).keys()) if c}

    async def workers(self) -> int:
        """How many workers are registered now (``beholder_workers``)."""
        return len(await (await self.bucket(Buckets.WORKERS)).entries())

    async def ensure(self, spec: CameraSpec, seen: KvEntry | None) -> str:
        """Make the desired state of ``spec.camera_id`` say ``spec``, idempotently, given the
        entry ``seen`` in a snapshot read before the database: absent then → created if
        still absent; present with another spec → updated (restart token kept); gone since
        (someone stopped the camera meanwhile) → left alone. Returns what was done:
        ``created``, ``updated``, ``kept`` or ``skipped``."""
        cameras = await self.bucket(Buckets.CAMERAS)
        key = camera_key(spec.camera_id)
        entry = seen
        for _ in range(_CAS_ATTEMPTS):
            if entry is None:
                fresh = CameraAssignment(spec=spec, trace_context=trace_context())
                if await cameras.create(key, fresh.to_bytes()) is not None:
                    return "created"
                entry = await cameras.get(key)  # another instance created it first
                if entry is None:
                    continue
            current = CameraAssignment.from_bytes(entry.value)
            if current.spec == spec:
                return "kept"
            updated = _assigned(current, spec, restart=False)
            if await cameras.update(key, updated.to_bytes(), entry.revision) is not None:
                return "updated"
            entry = await cameras.get(key)
            if entry is None:
                return "skipped"
        raise BusError(detail=f"desired state of camera {spec.camera_id}: too many lost races")

    async def discard(self, camera_id: str, seen: KvEntry) -> bool:
        """Delete a camera's desired state if it is still the entry ``seen`` (a START that
        wrote it meanwhile wins); whether it was deleted."""
        cameras = await self.bucket(Buckets.CAMERAS)
        return await cameras.delete(camera_key(camera_id), last=seen.revision)


class _Change(Protocol):
    def __call__(self, current: CameraAssignment) -> CameraAssignment: ...


def _assigned(current: CameraAssignment, spec: CameraSpec, *, restart: bool) -> CameraAssignment:
    """``current`` running ``spec``; a new restart token when ``restart``."""
    token = new_id() if restart else current.restart_token
    return current.model_copy(update={"spec": spec, "restart_token": token})


def _with_face_detection(current: CameraAssignment, enabled: bool) -> CameraAssignment:
    spec = current.spec.model_copy(update={"face_detection_enabled": enabled})
    return current.model_copy(update={"spec": spec})


def make_dispatcher(
    bus: Bus, raw: Bus | None, cluster: ClusterSettings
) -> BusDispatcher | DesiredStateDispatcher:
    """The dispatcher for the api's ``bus``; ``raw``: the bus before any wrapping
    (tracing), whose type decides: a :class:`NatsBus` → desired state in JetStream KV."""
    from beholder.bus.nats import NatsBus

    if isinstance(raw, NatsBus):
        return DesiredStateDispatcher(raw, cluster)
    return BusDispatcher(bus)


__all__ = [
    "BusDispatcher",
    "CameraDispatcher",
    "DesiredStateDispatcher",
    "Dispatched",
    "make_dispatcher",
    "trace_context",
]
