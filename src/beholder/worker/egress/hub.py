"""The worker's egress hub: camera sources and the bus-facing side of live view (WHEP, MJPEG).

:class:`EgressHub` lives in the worker process. For each camera session the worker runs it
holds one :class:`~beholder.worker.egress.source.CameraSource` (a PacketSink of the session)
and answers, over the bus, the api's requests for that camera (subjects in
:mod:`~beholder.contracts.live`): new WHEP session, delete, renew, MJPEG keep-alive.

Wiring (worker process, after ``WorkerManager.start()``)::

    hub = await start_egress(manager, bus, settings.live_view)  # listener + heartbeat hook
    ...
    await hub.close()                                           # before manager.stop()

Each camera's :class:`CameraSource` is a packet sink of its camera session
(``session.add_packet_sink``) and has ``stats()`` (``egress``, ``viewers``, …) for the
camera's ``StreamStats``.

The hub owns the sources, the bus subscriptions and the MJPEG encoders; the viewer sessions
(lifecycle, limits, sweep) are owned by its :class:`~beholder.worker.egress.viewers.
ViewerRegistry` (``hub.viewers``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from beholder.bus.base import Bus, BusMessage, Subscription
from beholder.config import LiveViewSettings
from beholder.contracts.live import (
    EgressReply,
    MjpegKeepAlive,
    WhepDelete,
    WhepOffer,
    WhepRenew,
)
from beholder.contracts.subjects import (
    mjpeg_keepalive_subject,
    whep_delete_subject,
    whep_renew_subject,
    whep_subject,
)
from beholder.errors import AppError, ErrorCode
from beholder.worker import metrics
from beholder.worker.egress import ice
from beholder.worker.egress.mjpeg import MjpegEncoder, MjpegFeeds
from beholder.worker.egress.quota import ClusterSessionQuota
from beholder.worker.egress.source import CameraSource
from beholder.worker.egress.track import PassthroughTrack
from beholder.worker.egress.viewers import ViewerRegistry, WhepSession

__all__ = ["EgressHub", "start_egress"]

log = logging.getLogger(__name__)


class EgressHub:
    """Per-worker registry of camera sources and MJPEG encoders, owner of the viewer registry.

    ``bus``: the worker's bus (``None`` in unit tests that call the methods directly);
    ``quota``: the cluster-wide per-principal session count (distributed mode only)."""

    def __init__(
        self,
        bus: Bus | None,
        settings: LiveViewSettings,
        worker_id: str = "",
        quota: ClusterSessionQuota | None = None,
    ) -> None:
        self.bus = bus
        self.settings = settings
        self.worker_id = worker_id
        self.sources: dict[str, CameraSource] = {}
        self._subs: dict[str, list[Subscription]] = {}
        self._detach_timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self.viewers = ViewerRegistry(
            self.settings,
            self.sources,
            is_detaching=lambda camera_id: camera_id in self._detach_timers,
            spawn=self._spawn,
            quota=quota,
        )
        self.mjpeg_feeds = MjpegFeeds(bus, self.settings, self.sources, spawn=self._spawn)
        self.errors = 0
        self.refused = 0
        self.closed = False

    @property
    def mjpeg(self) -> dict[str, MjpegEncoder]:
        """Running MJPEG encoders by camera id."""
        return self.mjpeg_feeds.encoders

    # --- viewer figures (owned by the registry) ------------------------------------------

    @property
    def sessions(self) -> dict[str, WhepSession]:
        """Open WHEP sessions by id (the registry's)."""
        return self.viewers.sessions

    @property
    def sessions_closed(self) -> int:
        return self.viewers.sessions_closed

    @property
    def close_reasons(self) -> dict[str, int]:
        """How many sessions closed for each reason (``viewer hung up``, ``camera stopped``…)."""
        return self.viewers.close_reasons

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Install the ICE hook and start the sweeper."""
        ice.install_host_address_hook()
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="egress-sweeper")

    async def close(self) -> None:
        """Close every session and source and drop bus subscriptions (idempotent)."""
        if self.closed:
            return
        self.closed = True
        metrics.LIVE_VIEW.untrack(self)
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for camera_id in list(self.sources):
            await self.detach(camera_id, grace=False)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.sweep()
            except Exception:
                self.errors += 1
                log.exception("egress sweeper failed")

    async def sweep(self) -> None:
        """One pass of the periodic checks (every second): viewer expiry, silence and connect
        timeout (the registry's), the renewal of the cluster-wide session claims when due,
        then MJPEG encoders without keep-alive."""
        await self.viewers.sweep()
        await self.viewers.renew_claims()
        self.mjpeg_feeds.sweep()

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- camera sessions -----------------------------------------------------------------

    def session_listener(self, camera_id: str, session: Any | None) -> None:
        """``WorkerManager.add_session_listener`` callback (loop thread): attach a source as
        a PacketSink of a starting session; detach (with grace) when it stops."""
        if self.closed:
            return
        if session is not None:
            session.add_packet_sink(self.attach_nowait(camera_id))
        else:
            self._schedule_detach(camera_id)

    def attach_nowait(self, camera_id: str) -> CameraSource:
        """The camera's source (created and announced on the bus if new)."""
        timer = self._detach_timers.pop(camera_id, None)
        if timer is not None:
            timer.cancel()
        source = self.sources.get(camera_id)
        if source is None:
            source = CameraSource(camera_id, self.settings, loop=asyncio.get_running_loop())
            self.sources[camera_id] = source
            self._spawn(self._subscribe_camera(camera_id), f"egress-sub:{camera_id}")
        return source

    async def attach(self, camera_id: str) -> CameraSource:
        """Like :meth:`attach_nowait`, waiting until the bus subscriptions are in place."""
        source = self.attach_nowait(camera_id)
        for _ in range(100):
            if camera_id in self._subs or self.bus is None:
                break
            await asyncio.sleep(0.01)
        return source

    async def _subscribe_camera(self, camera_id: str) -> None:
        if self.bus is None or camera_id in self._subs:
            return
        subs = [
            await self.bus.subscribe(whep_subject(camera_id), self._on_whep),
            await self.bus.subscribe(whep_delete_subject(camera_id), self._on_delete),
            await self.bus.subscribe(whep_renew_subject(camera_id), self._on_renew),
            await self.bus.subscribe(mjpeg_keepalive_subject(camera_id), self._on_mjpeg),
        ]
        if camera_id not in self.sources:  # detached meanwhile
            for s in subs:
                await s.unsubscribe()
            return
        self._subs[camera_id] = subs

    def _schedule_detach(self, camera_id: str) -> None:
        if camera_id not in self.sources or camera_id in self._detach_timers:
            return
        source = self.sources[camera_id]
        source.on_stream_closed()
        loop = asyncio.get_running_loop()
        self._detach_timers[camera_id] = loop.call_later(
            self.settings.webrtc_restart_grace,
            lambda: self._spawn(self.detach(camera_id, grace=False), f"egress-detach:{camera_id}"),
        )

    async def detach(self, camera_id: str, grace: bool = False) -> None:
        """Camera gone: close its viewers, MJPEG encoder and bus subscriptions.

        ``grace=True`` only schedules it (see ``webrtc_restart_grace``)."""
        if grace:
            self._schedule_detach(camera_id)
            return
        timer = self._detach_timers.pop(camera_id, None)
        if timer is not None:
            timer.cancel()
        source = self.sources.pop(camera_id, None)
        await self.viewers.close_camera(camera_id, "camera stopped")
        self.mjpeg_feeds.stop(camera_id)
        if source is not None:
            source.close()
        for sub in self._subs.pop(camera_id, []):
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    # --- bus handlers ----------------------------------------------------------------------

    async def _on_whep(self, msg: BusMessage) -> None:
        self._spawn(self._answer(msg, self._handle_offer), "egress-whep")

    async def _on_delete(self, msg: BusMessage) -> None:
        self._spawn(self._answer(msg, self._handle_delete), "egress-whep-delete")

    async def _on_renew(self, msg: BusMessage) -> None:
        self._spawn(self._answer(msg, self._handle_renew), "egress-whep-renew")

    async def _on_mjpeg(self, msg: BusMessage) -> None:
        await self._answer(msg, self._handle_mjpeg)

    async def _handle_mjpeg(self, data: bytes) -> EgressReply:
        return self.mjpeg_feeds.keepalive(MjpegKeepAlive.from_bytes(data))

    async def _answer(
        self, msg: BusMessage, handler: Callable[[bytes], Awaitable[EgressReply]]
    ) -> None:
        try:
            reply = await handler(msg.data)
        except AppError as exc:  # a refusal: its code and user-safe message go back
            self.refused += 1
            reply = EgressReply(ok=False, error_code=exc.code.value, message=exc.message)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            log.warning("egress: malformed request on %s: %s", msg.subject, exc)
            reply = EgressReply(
                ok=False,
                error_code=ErrorCode.INVALID_INPUT.value,
                message="The request is not valid.",
            )
        except Exception:
            self.errors += 1
            log.exception("egress: request on %s failed", msg.subject)
            reply = EgressReply(
                ok=False,
                error_code=ErrorCode.INTERNAL_ERROR.value,
                message="Live view failed on the server.",
            )
        with contextlib.suppress(Exception):
            await msg.respond(reply.to_bytes())

    async def _handle_offer(self, data: bytes) -> EgressReply:
        return await self.viewers.create(WhepOffer.from_bytes(data))

    async def _handle_delete(self, data: bytes) -> EgressReply:
        req = WhepDelete.from_bytes(data)
        session = self.viewers.owned(req.camera_id, req.session_id, req.principal, req.any_owner)
        await self.viewers.close(session.id, "viewer hung up")
        return EgressReply(ok=True)

    async def _handle_renew(self, data: bytes) -> EgressReply:
        req = WhepRenew.from_bytes(data)
        session = self.viewers.owned(req.camera_id, req.session_id, req.principal, req.any_owner)
        session.expires_at = req.expires_at
        return EgressReply(ok=True)

    # --- figures ---------------------------------------------------------------------------

    def install(self, manager: Any) -> None:
        """Hook into a ``WorkerManager``: session listener (attach a source to every camera
        session, now and later) and heartbeat figures (``manager.egress_stats``)."""
        manager.add_session_listener(self.session_listener)
        for camera_id, session in dict(getattr(manager, "sessions", {})).items():
            self.session_listener(camera_id, session)
        manager.egress_stats = lambda: (self.session_count, self.error_count)

    @property
    def error_count(self) -> int:
        """Egress errors since start (hub, viewers and every source):
        ``WorkerHeartbeat.egressErrors``."""
        sources = sum(s.errors for s in self.sources.values())
        return self.errors + self.viewers.errors + self.mjpeg_feeds.errors + sources

    @property
    def session_count(self) -> int:
        """Open WHEP sessions on this worker (``WorkerHeartbeat.egressSessions``)."""
        return len(self.viewers.sessions)

    def camera_stats(self, camera_id: str) -> dict[str, Any]:
        """``{"egress": ..., "viewers": n}`` for the camera's ``StreamStats`` ({} if unknown)."""
        source = self.sources.get(camera_id)
        if source is None:
            return {}
        return {"egress": source.mode, "viewers": len(source.viewers)}

    def stats(self) -> dict[str, Any]:
        """Everything countable, for health, metrics and leak checks.

        ``sessions``: open sessions; ``peerConnections``: RTCPeerConnection objects still
        alive (not yet garbage-collected); ``tracks``: PassthroughTrack objects alive;
        ``viewers``: tracks attached to sources; ``tasks``: hub tasks in flight."""
        return {
            "sessions": len(self.viewers.sessions),
            "sessionsCreated": self.viewers.sessions_created,
            "sessionsClosed": self.viewers.sessions_closed,
            "closeReasons": dict(self.viewers.close_reasons),
            "refused": self.refused,
            "errors": self.error_count,
            "peerConnections": len(WhepSession.alive),
            "tracks": len(PassthroughTrack.alive),
            "viewers": sum(len(s.viewers) for s in self.sources.values()),
            "tasks": len(self._tasks),
            "mjpegEncoders": len(self.mjpeg),
            "cameras": {cid: s.stats() for cid, s in self.sources.items()},
        }

    def health(self) -> tuple[str, dict[str, Any]]:
        """(``HEALTHY``|``DEGRADED``, details) for the ``media`` service of the health check.

        DEGRADED when a camera with viewers produced no frame for 10 s."""
        st = self.stats()
        stalled = [
            cid
            for cid, src in self.sources.items()
            if src.viewers
            and (src.last_packet_time is None or time.monotonic() - src.last_packet_time > 10)
        ]
        details = {
            "egressSessions": st["sessions"],
            "egressErrors": st["errors"],
            "viewers": st["viewers"],
            "stalledCameras": stalled,
        }
        return ("DEGRADED" if stalled else "HEALTHY"), details


async def start_egress(manager: Any, bus: Bus, settings: LiveViewSettings) -> EgressHub:
    """Create, start and install the worker's :class:`EgressHub` (``settings``:
    ``Settings.live_view``). A worker placed in a cluster (``manager.placement``, after
    ``manager.start()``) counts each principal's sessions cluster-wide
    (:class:`ClusterSessionQuota`); raises ``BusError`` when that bucket cannot be opened."""
    worker_id = str(getattr(manager, "worker_id", ""))
    quota = None
    placement = getattr(manager, "placement", None)
    jetstream = getattr(bus, "jetstream", None)
    if placement is not None and jetstream is not None:
        quota = await ClusterSessionQuota.open(
            jetstream(),
            worker_id,
            settings.webrtc_max_sessions_per_principal,
            replicas=placement.settings.stream_replicas,
        )
    hub = EgressHub(bus, settings, worker_id=worker_id, quota=quota)
    await hub.start()
    hub.install(manager)
    metrics.LIVE_VIEW.track(hub)
    return hub
