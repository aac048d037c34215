"""Which worker runs which camera in distributed mode, and the leases that make it safe.

**Why rendezvous hashing.** Every worker reads the same registry of live workers and
computes, for each desired camera, the same ranking of workers
(:mod:`.rendezvous`): deterministic on every worker from the same view, with no
coordinator to elect or fail over; when a worker dies only *its* cameras move (each to its
own next-ranked worker, so they spread over the survivors), and when one joins it takes
about ``1/n`` of the cameras, from every worker alike, while no other camera moves.
Least-loaded assignment would need a coordinator (or races between workers reading stale
loads) and would move cameras whenever loads shift. Correctness does not rest on the views
agreeing: only the compare-and-set lease decides who runs a camera (:mod:`.leases`), the
hash only decides who *tries*.

**Taking a camera.** An unowned desired camera (no lease in KV) is taken at once by its
rank-0 worker; a worker of rank ``r`` tries only after the camera stayed unowned for
``r × lease_ttl`` in its own view, so a registered but stuck preferred worker never strands a
camera, and no two workers race for it in the common case.

**Gentle rebalancing.** When a worker joins, the holders of the cameras that now hash to
it hand them over, but each holder moves at most ``rebalance_moves_per_minute`` cameras
per minute, and only to a worker registered for at least ``worker_settle_time`` (so a
worker that flaps or is still starting gets nothing, and a new worker's load grows step by
step instead of in one thundering herd). A handover publishes a status ``STARTING`` with
details ``"Moving to another worker"``, stops the session quietly (no STOPPING/STOPPED: the
camera is not stopping, it moves) and deletes the lease; the new owner takes it on its next
tick. A dead worker's cameras are not "moved": its leases expire and they are taken at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable
from typing import Any, Protocol

import structlog

from beholder._compat.cancel import cancel_and_wait
from beholder.bus.kv import KvBucket
from beholder.config.cluster import ClusterSettings
from beholder.contracts.cluster import Buckets, CameraAssignment
from beholder.errors import BusError
from beholder.messages import CameraStatus, StreamStatusEvent, WorkerHeartbeat
from beholder.worker.placement.desired import DesiredState
from beholder.worker.placement.leases import HeldLease, LeaseKeeper
from beholder.worker.placement.registry import WorkerRegistry
from beholder.worker.placement.rendezvous import ranking

log = structlog.get_logger(__name__)

__all__ = ["MOVING_DETAILS", "Placement", "SessionHost"]

MOVING_DETAILS = "Moving to another worker"
"""``details`` of the STARTING status a holder publishes when it hands a camera over."""

_STOP_WAIT_S = 10.0
"""How long :meth:`Placement.stop` waits for its loops and running actions."""

_HANDOVER_MEMORY_S = 300.0
"""A camera handed to a worker is not handed to the same worker again for this long (a
preferred worker that does not take it would otherwise make it bounce)."""


class SessionHost(Protocol):
    """What placement drives: the worker's sessions (:class:`WorkerManager`)."""

    worker_id: str

    def heartbeat(self) -> WorkerHeartbeat: ...

    async def run_camera(self, assignment: CameraAssignment) -> None:
        """Start (or restart) the camera's session as ``assignment`` says; publishes an
        ERROR status itself when it cannot."""

    async def stop_camera(self, camera_id: str) -> None:
        """Stop the camera's session (a no-op without one)."""

    def toggle_camera(self, camera_id: str, enabled: bool) -> None:
        """Turn face detection of a running session on or off."""

    async def announce_camera(self, camera_id: str, correlation_id: str | None) -> None:
        """Publish the running session's current status again, with ``correlation_id``."""

    async def publish_status(self, event: StreamStatusEvent) -> None:
        """Publish a status event through the stamping path."""


class Placement:
    """The worker's side of placement (see the module doc): registry, desired state,
    leases. ``start()`` opens the buckets on ``js`` (a JetStream context) and starts the
    loops; ``stop()`` gives every camera back and deregisters."""

    def __init__(self, host: SessionHost, js: Any, settings: ClusterSettings) -> None:
        self.host = host
        self.worker_id = host.worker_id
        self.settings = settings
        self._js = js
        self.keeper: LeaseKeeper | None = None
        self.registry: WorkerRegistry | None = None
        self.desired: DesiredState | None = None
        self.applied: dict[str, CameraAssignment] = {}
        """The assignment each held camera's session was started with."""
        self._unowned_since: dict[str, float] = {}
        self._handed: dict[str, tuple[str, float]] = {}
        self._moves: deque[float] = deque()
        self._busy: dict[str, int] = {}
        """Camera id → actions spawned and not finished (one runs at a time, by its lock)."""
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Open the buckets, register, read the desired state, start the loops.
        Raises ``BusError`` when JetStream cannot be used."""
        s = self.settings
        cameras = await KvBucket.open(self._js, Buckets.CAMERAS, replicas=s.stream_replicas)
        leases = await KvBucket.open(
            self._js, Buckets.LEASES, ttl=s.lease_ttl, replicas=s.stream_replicas
        )
        workers = await KvBucket.open(
            self._js, Buckets.WORKERS, ttl=s.registry_ttl, replicas=s.stream_replicas
        )
        self.keeper = LeaseKeeper(leases, self.worker_id, s.lease_ttl)
        self.registry = WorkerRegistry(workers, self.worker_id)
        self.desired = DesiredState(cameras, self._wake.set)
        await self.registry.register(self.host.heartbeat())
        self._loops = [
            asyncio.create_task(self.desired.run(), name="placement-desired"),
            asyncio.create_task(self._tick_loop(), name="placement-tick"),
            asyncio.create_task(self._renew_loop(), name="placement-renew"),
        ]
        log.info("placement started", worker_id=self.worker_id)

    async def stop(self) -> None:
        """Hand every held camera over (STARTING "Moving to another worker", quiet stop,
        lease deleted) and remove this worker from the registry, so that the others take
        its cameras at once rather than after the TTL. Idempotent."""
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        # Bounded: a watch stuck on a dead connection must not hold the worker's shutdown.
        await cancel_and_wait(self._loops, _STOP_WAIT_S)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=_STOP_WAIT_S)
        if self.keeper is not None:
            await asyncio.gather(
                *(self._hand_over(cid) for cid in list(self.keeper.held)), return_exceptions=True
            )
        if self.registry is not None:
            with contextlib.suppress(BusError):
                await self.registry.deregister()
        log.info("placement stopped", worker_id=self.worker_id)

    # ------------------------------------------------------------------ stamping
    def stamp(self, camera_id: str) -> tuple[int, int] | None:
        """``(epoch, seq)`` for the next status event of ``camera_id``, or ``None`` when
        its lease is not validly held here (drop the event)."""
        return self.keeper.stamp(camera_id) if self.keeper is not None else None

    def epoch(self, camera_id: str) -> int | None:
        """The epoch of ``camera_id``'s validly held lease (for alerts), or ``None``."""
        return self.keeper.epoch(camera_id) if self.keeper is not None else None

    @property
    def leases_held(self) -> int:
        return len(self.keeper.held) if self.keeper is not None else 0

    # ------------------------------------------------------------------ loops
    # Both loops also end on ``_stopping``: a cancel can be lost inside nats-py on Python
    # 3.11 (see beholder._compat.cancel).
    async def _tick_loop(self) -> None:
        while not self._stopping:
            try:
                await self.tick()
            except BusError as exc:
                log.warning("placement tick failed", error=str(exc)[:200])
            except Exception:
                log.exception("placement tick failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.placement_interval):
                    await self._wake.wait()
            self._wake.clear()

    async def _renew_loop(self) -> None:
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._renew_once()
            except Exception:  # never let the loop die: its leases would all self-fence
                log.exception("lease renewal round failed")
            elapsed = time.monotonic() - started
            await asyncio.sleep(max(0.0, self.settings.lease_renew_interval - elapsed))

    async def _renew_once(self) -> None:
        """Renew every held lease (in parallel), fence the lost and the late ones, refresh
        this worker's registration."""
        assert self.keeper is not None and self.registry is not None
        keeper = self.keeper
        held = [lease for lease in keeper.held.values() if not lease.fenced]
        results = await asyncio.gather(
            *(keeper.renew(lease) for lease in held), return_exceptions=True
        )
        for lease, result in zip(held, results, strict=True):
            if result is True:
                continue
            if isinstance(result, BaseException) and lease.valid():
                log.warning("lease renewal failed", camera_id=lease.camera_id, error=repr(result))
                continue  # NATS did not answer: retry while the lease is still valid
            self._lost(lease)
        for lease in list(keeper.held.values()):  # the watchdog: renewals too late
            if not lease.valid() and not lease.fenced:
                self._lost(lease)
        try:
            await self.registry.register(self.host.heartbeat())
        except BusError as exc:
            log.warning("worker registration not refreshed", error=str(exc)[:200])

    def _lost(self, lease: HeldLease) -> None:
        """The lease is gone: fence it now, stop the session quietly (in a task)."""
        assert self.keeper is not None
        if self.keeper.held.get(lease.camera_id) is not lease:
            return
        self.keeper.forget(lease.camera_id)
        log.warning("camera lease lost: stopping its session", camera_id=lease.camera_id)
        self._spawn(lease.camera_id, self._stop_quietly(lease.camera_id), force=True)

    # ------------------------------------------------------------------ placement
    async def tick(self) -> None:
        """One placement round (see the module doc). Raises ``BusError``."""
        if self.keeper is None or self.registry is None or self.desired is None:
            return
        if not self.desired.synced.is_set() or self._stopping:
            return
        keeper = self.keeper
        live = set(await self.registry.live()) | {self.worker_id}
        holders = await keeper.holders()
        desired = dict(self.desired.cameras)
        now = time.monotonic()
        for cid in list(self._unowned_since):
            if cid not in desired or cid in holders:
                del self._unowned_since[cid]
        candidates: list[tuple[str, str]] = []
        for cid, assignment in desired.items():
            ranked = ranking(cid, live)
            if cid in keeper.held:
                self._converge(cid, assignment)
                if ranked[0] != self.worker_id:
                    candidates.append((cid, ranked[0]))
                continue
            if cid in holders:
                continue
            since = self._unowned_since.setdefault(cid, now)
            rank = ranked.index(self.worker_id)
            if now - since >= rank * self.settings.lease_ttl:
                self._spawn(cid, self._acquire(cid))
        for cid in list(keeper.held):
            if cid not in desired:
                self._spawn(cid, self._stop_and_release(cid))
        self._rebalance(candidates, now)

    def _converge(self, cid: str, assignment: CameraAssignment) -> None:
        """Bring a held camera's session to ``assignment``: start, restart or toggle."""
        applied = self.applied.get(cid)
        if applied is None or applied.restart_token != assignment.restart_token:
            self._spawn(cid, self._run(cid, assignment))
            return
        if applied == assignment:
            return
        enabled = assignment.spec.face_detection_enabled
        toggled = applied.spec.model_copy(update={"face_detection_enabled": enabled})
        if toggled != assignment.spec:
            self._spawn(cid, self._run(cid, assignment))  # another spec: a restart
        elif cid not in self._busy:
            if enabled != applied.spec.face_detection_enabled:
                self.host.toggle_camera(cid, enabled)
                log.info("face detection toggled", camera_id=cid, enabled=enabled)
            self.applied[cid] = assignment
            # Asked again (a START of a running camera, a toggle): answer with the state now.
            self._spawn(cid, self.host.announce_camera(cid, assignment.correlation_id))

    def _rebalance(self, candidates: list[tuple[str, str]], now: float) -> None:
        """Hand over held cameras that hash to another settled worker, within the rate."""
        assert self.registry is not None
        limit = self.settings.rebalance_moves_per_minute
        while self._moves and now - self._moves[0] >= 60.0:
            self._moves.popleft()
        for cid, target in sorted(candidates):
            if len(self._moves) >= limit:
                return
            if cid in self._busy:
                continue
            if self.registry.registered_for(target) < self.settings.worker_settle_time:
                continue
            handed = self._handed.get(cid)
            if handed is not None and handed[0] == target and now - handed[1] < _HANDOVER_MEMORY_S:
                continue
            self._moves.append(now)
            self._handed[cid] = (target, now)
            log.info("handing a camera over", camera_id=cid, to_worker=target)
            self._spawn(cid, self._hand_over(cid))

    # ------------------------------------------------------------------ per-camera actions
    def _spawn(self, cid: str, action: Awaitable[None], *, force: bool = False) -> None:
        """Run ``action`` for camera ``cid`` in a task; one action per camera at a time
        (a busy camera is skipped this tick, unless ``force``: then it runs after)."""
        if cid in self._busy and not force:
            if asyncio.iscoroutine(action):
                action.close()
            return
        self._busy[cid] = self._busy.get(cid, 0) + 1  # now: later spawns this tick see it
        lock = self._locks.setdefault(cid, asyncio.Lock())

        async def run() -> None:
            try:
                async with lock:
                    await action
            except Exception:
                log.exception("placement action failed", camera_id=cid)
            finally:
                left = self._busy.pop(cid, 1) - 1
                if left > 0:
                    self._busy[cid] = left
                else:
                    self._locks.pop(cid, None)
                self._wake.set()

        task = asyncio.create_task(run(), name=f"placement:{cid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _acquire(self, cid: str) -> None:
        assert self.keeper is not None and self.desired is not None
        if self._stopping or cid in self.keeper.held:
            return
        if await self.keeper.acquire(cid) is None:
            return
        self._unowned_since.pop(cid, None)
        assignment = self.desired.cameras.get(cid)
        if assignment is None:  # removed meanwhile: give it straight back
            lease = self.keeper.held.get(cid)
            if lease is not None:
                await self.keeper.release(lease)
            return
        await self._run(cid, assignment)

    async def _run(self, cid: str, assignment: CameraAssignment) -> None:
        assert self.keeper is not None
        if cid not in self.keeper.held:
            return
        self.applied[cid] = assignment  # even when it fails: retried on the next change
        await self.host.run_camera(assignment)

    async def _stop_and_release(self, cid: str) -> None:
        """Desired state removed: a normal stop (STOPPING/STOPPED with the epoch), then the
        lease is deleted."""
        assert self.keeper is not None
        await self.host.stop_camera(cid)
        self.applied.pop(cid, None)
        lease = self.keeper.held.get(cid)
        if lease is not None:
            await self.keeper.release(lease)

    async def _hand_over(self, cid: str) -> None:
        """STARTING "Moving to another worker", quiet stop, lease deleted."""
        assert self.keeper is not None
        lease = self.keeper.held.get(cid)
        if lease is None:
            return
        assignment = self.applied.get(cid)
        with contextlib.suppress(Exception):
            await self.host.publish_status(
                StreamStatusEvent(
                    camera_id=cid,
                    status=CameraStatus.STARTING,
                    details=MOVING_DETAILS,
                    worker_id=self.worker_id,
                    correlation_id=assignment.correlation_id if assignment else None,
                )
            )
        self.keeper.forget(cid)  # fenced: the stop below publishes nothing
        await self._stop_quietly(cid)
        await self.keeper.release(lease)

    async def _stop_quietly(self, cid: str) -> None:
        await self.host.stop_camera(cid)
        self.applied.pop(cid, None)
