"""WHEP sessions (one aiortc peer connection per viewer) and the worker's egress hub.

:class:`EgressHub` lives in the worker process. For each camera session the worker runs it
holds one :class:`~beholder.worker.egress.source.CameraSource` (a PacketSink of the session)
and answers, over the bus, the api's requests for that camera (subjects in
:mod:`~beholder.worker.egress.protocol`): new WHEP session, delete, renew, MJPEG keep-alive.

Wiring (worker process, after ``WorkerManager.start()``)::

    hub = await start_egress(manager, bus, settings)   # listener + heartbeat hook installed
    ...
    await hub.close()                                  # before manager.stop()

Each camera's :class:`CameraSource` is in ``session.packet_sinks`` and has ``stats()``
(``egress``, ``viewers``, …) for the camera's ``StreamStats``.

Lifecycle of a session: created on the offer (ICE host candidates restricted, H.264 forced);
attached to the camera's source when its connection is ``connected`` (it then starts from
the GOP cache); closed and freed when the viewer DELETEs, the connection fails or closes, it
is not connected within ``webrtc_connect_timeout``, no RTCP receiver report arrived for
``webrtc_idle_timeout``, the viewer's token expires, or the camera stops. RTSP reconnects
inside a session keep every viewer (``on_stream_closed``/``on_stream_open``: they resume at
the next keyframe on the same peer connection). When the camera's session itself ends, its
viewers are kept ``webrtc_restart_grace`` seconds: a RESTART (stop + start of a new
session, milliseconds apart) re-attaches them to the same source; a STOP closes them when
the grace runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from beholder.bus.base import Bus, BusMessage, Subscription
from beholder.messages import new_id
from beholder.worker.egress import ice
from beholder.worker.egress.mjpeg import MjpegEncoder
from beholder.worker.egress.protocol import (
    EgressReply,
    MjpegKeepAlive,
    MjpegReply,
    WhepAnswer,
    WhepDelete,
    WhepOffer,
    WhepRenew,
    mjpeg_keepalive_subject,
    mjpeg_subject,
    whep_delete_subject,
    whep_renew_subject,
    whep_subject,
)
from beholder.worker.egress.settings import EgressSettings
from beholder.worker.egress.source import CameraSource
from beholder.worker.egress.track import PassthroughTrack

_FIRST_KEYFRAME_WAIT_S = 4.0
"""How long an offer may wait for a just-opened stream's first keyframe (seconds)."""

log = logging.getLogger(__name__)

MAX_SDP_BYTES = 64 * 1024


class EgressRefused(Exception):
    """A request the worker answers with an error code (user-safe ``message``)."""

    def __init__(self, code: str, message: str, detail: str | None = None) -> None:
        super().__init__(detail or message)
        self.code = code
        self.message = message


@dataclass(eq=False)
class WhepSession:
    """One viewer. Times: ``created``/``connected_at``/``last_rtcp`` monotonic seconds,
    ``expires_at`` unix seconds (``None``: no expiry)."""

    id: str
    camera_id: str
    principal: str
    pc: RTCPeerConnection
    track: PassthroughTrack
    sender: RTCRtpSender
    expires_at: float | None
    created: float = field(default_factory=time.monotonic)
    connected_at: float | None = None
    last_rtcp: float | None = None
    closing: bool = False
    close_reason: str | None = None
    on_close: Callable[[], None] | None = None

    alive: ClassVar[weakref.WeakSet[RTCPeerConnection]] = weakref.WeakSet()


class EgressHub:
    """Per-worker registry of camera sources, WHEP sessions and MJPEG encoders.

    ``bus``: the worker's bus (``None`` in unit tests that call the methods directly)."""

    def __init__(
        self,
        bus: Bus | None,
        settings: EgressSettings | None = None,
        worker_id: str = "",
    ) -> None:
        self.bus = bus
        self.settings = settings or EgressSettings()
        self.worker_id = worker_id
        self.sources: dict[str, CameraSource] = {}
        self.sessions: dict[str, WhepSession] = {}
        self.mjpeg: dict[str, MjpegEncoder] = {}
        self.networks = ice.allowed_networks(self.settings)
        self._subs: dict[str, list[Subscription]] = {}
        self._detach_timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._mjpeg_inflight: set[str] = set()
        self._pending: dict[str, int] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.errors = 0
        self.sessions_created = 0
        self.sessions_closed = 0
        self.refused = 0
        self.close_reasons: dict[str, int] = {}
        self.closed = False

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Install the ICE hook and start the sweeper."""
        ice.install_host_address_hook()
        self._loop = asyncio.get_running_loop()
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="egress-sweeper")

    async def close(self) -> None:
        """Close every session and source and drop bus subscriptions (idempotent)."""
        if self.closed:
            return
        self.closed = True
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
            source = self.attach_nowait(camera_id)
            sinks = getattr(session, "packet_sinks", None)
            if sinks is not None and source not in sinks:
                if hasattr(sinks, "append"):
                    sinks.append(source)
                else:
                    sinks.add(source)
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
        for s in [s for s in self.sessions.values() if s.camera_id == camera_id]:
            await self.close_session(s.id, "camera stopped")
        self._stop_mjpeg(camera_id)
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

    async def _answer(
        self, msg: BusMessage, handler: Callable[[bytes], Awaitable[EgressReply]]
    ) -> None:
        try:
            reply = await handler(msg.data)
        except EgressRefused as exc:
            self.refused += 1
            reply = EgressReply(ok=False, error_code=exc.code, message=exc.message)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            log.warning("egress: malformed request on %s: %s", msg.subject, exc)
            reply = EgressReply(
                ok=False, error_code="INVALID_INPUT", message="The request is not valid."
            )
        except Exception:
            self.errors += 1
            log.exception("egress: request on %s failed", msg.subject)
            reply = EgressReply(
                ok=False, error_code="INTERNAL_ERROR", message="Live view failed on the server."
            )
        with contextlib.suppress(Exception):
            await msg.respond(reply.to_bytes())

    async def _handle_offer(self, data: bytes) -> EgressReply:
        return await self.create_session(WhepOffer.from_bytes(data))

    async def _handle_delete(self, data: bytes) -> EgressReply:
        req = WhepDelete.from_bytes(data)
        session = self._owned_session(req)
        await self.close_session(session.id, "viewer hung up")
        return EgressReply(ok=True)

    async def _handle_renew(self, data: bytes) -> EgressReply:
        req = WhepRenew.from_bytes(data)
        session = self._owned_session(req)
        session.expires_at = req.expires_at
        return EgressReply(ok=True)

    def _owned_session(self, req: WhepDelete) -> WhepSession:
        session = self.sessions.get(req.session_id)
        if session is None or session.camera_id != req.camera_id:
            raise EgressRefused("NOT_FOUND", "This live view session does not exist.")
        if session.principal != req.principal and not req.any_owner:
            raise EgressRefused("PERMISSION_DENIED", "This live view session is not yours.")
        return session

    # --- WHEP sessions -----------------------------------------------------------------------

    async def _await_first_keyframe(self, camera_id: str) -> None:
        """Hold an offer that arrives between the stream opening and its first keyframe.

        The camera is reported PROCESSING as soon as its stream opens, but a viewer can
        only start from a keyframe; waiting up to ``_FIRST_KEYFRAME_WAIT_S`` here (about
        one GOP of a real camera) spares the viewer a refused offer and a retry."""
        deadline = time.monotonic() + _FIRST_KEYFRAME_WAIT_S
        while time.monotonic() < deadline:
            source = self.sources.get(camera_id)
            if source is None or source.producing or camera_id in self._detach_timers:
                return
            await asyncio.sleep(0.05)

    def _check_capacity(self, camera_id: str) -> CameraSource:
        source = self.sources.get(camera_id)
        if source is None or camera_id in self._detach_timers or not source.producing:
            raise EgressRefused(
                "STREAM_UNAVAILABLE", "The camera stream is not available right now."
            )
        per_camera = sum(1 for s in self.sessions.values() if s.camera_id == camera_id)
        per_camera += self._pending.get(camera_id, 0)
        if per_camera >= self.settings.webrtc_max_viewers_per_camera:
            raise EgressRefused("SERVICE_UNAVAILABLE", "Too many viewers on this camera.")
        if len(self.sessions) + sum(self._pending.values()) >= self.settings.webrtc_max_viewers:
            raise EgressRefused("SERVICE_UNAVAILABLE", "Too many live viewers on this server.")
        return source

    async def create_session(self, offer: WhepOffer) -> WhepAnswer:
        """Answer a viewer's offer (see :meth:`_negotiate`); viewer slots are reserved while
        negotiating so concurrent offers cannot exceed the limits."""
        await self._await_first_keyframe(offer.camera_id)
        self._check_capacity(offer.camera_id)
        cid = offer.camera_id
        self._pending[cid] = self._pending.get(cid, 0) + 1
        try:
            return await self._negotiate(offer)
        finally:
            self._pending[cid] -= 1
            if not self._pending[cid]:
                del self._pending[cid]

    async def _negotiate(self, offer: WhepOffer) -> WhepAnswer:
        """Answer a viewer's offer. Raises :class:`EgressRefused` with ``STREAM_UNAVAILABLE``
        (camera not producing), ``SERVICE_UNAVAILABLE`` (viewer limit) or ``INVALID_INPUT``
        (SDP unusable: malformed, no video, no H.264)."""
        if offer.expires_at is not None and offer.expires_at <= time.time():
            raise EgressRefused("UNAUTHORIZED", "Sign in to continue.")
        if len(offer.sdp.encode()) > MAX_SDP_BYTES or "m=video" not in offer.sdp:
            raise EgressRefused("INVALID_INPUT", "The offer must contain H.264 video.")
        sdp, dropped = ice.filter_sdp_candidates(offer.sdp, self.networks)
        pc = RTCPeerConnection(ice.rtc_configuration(self.settings))
        WhepSession.alive.add(pc)
        sid = new_id()
        track = PassthroughTrack(self.settings.egress_viewer_queue, on_stop=self._track_stopped)
        try:
            transceiver = pc.addTransceiver(track, direction="sendonly")
            caps = RTCRtpSender.getCapabilities("video").codecs
            transceiver.setCodecPreferences(
                [c for c in caps if c.mimeType.lower() in ("video/h264", "video/rtx")]
            )
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            except Exception as exc:
                raise EgressRefused(
                    "INVALID_INPUT", "The offer is not a usable WebRTC video offer.", str(exc)
                ) from exc
            negotiated = [c.mimeType.lower() for c in getattr(transceiver, "_codecs", [])]
            if transceiver.mid is None or not negotiated or negotiated[0] != "video/h264":
                raise EgressRefused(
                    "INVALID_INPUT", "The offer must accept H.264 video.", f"codecs={negotiated}"
                )
            ice.guard_connection(pc, self.networks)
            with ice.host_addresses(self.settings.webrtc_hosts):
                await pc.setLocalDescription(await pc.createAnswer())
            # the source may have stopped while we negotiated
            source = self._check_capacity_after(offer.camera_id)
        except BaseException:
            track.stop()
            await pc.close()
            raise
        session = WhepSession(
            id=sid,
            camera_id=offer.camera_id,
            principal=offer.principal,
            pc=pc,
            track=track,
            sender=transceiver.sender,
            expires_at=offer.expires_at,
        )
        self.sessions[sid] = session
        self.sessions_created += 1
        source.hold()  # warm the transcoder (if any) while ICE/DTLS run
        held = [True]

        def release() -> None:
            if held[0]:
                held[0] = False
                source.release()

        @pc.on("connectionstatechange")
        def _on_state() -> None:
            state = pc.connectionState
            if state == "connected" and session.connected_at is None and not session.closing:
                session.connected_at = time.monotonic()
                source.add_viewer(track)
                release()
            elif state in ("failed", "closed"):
                release()
                if not session.closing:
                    self._spawn(self.close_session(sid, f"connection {state}"), "egress-close")

        session.on_close = release

        log.info(
            "egress: WHEP session %s on camera %s for %s (%d remote candidates ignored)",
            sid,
            offer.camera_id,
            offer.principal,
            dropped,
        )
        local = pc.localDescription
        return WhepAnswer(
            ok=True,
            session_id=sid,
            sdp=local.sdp,
            egress=source.mode,
            ice_servers=list(self.settings.webrtc_ice_servers),
        )

    def _check_capacity_after(self, camera_id: str) -> CameraSource:
        source = self.sources.get(camera_id)
        if source is None or source.closed:
            raise EgressRefused(
                "STREAM_UNAVAILABLE", "The camera stream is not available right now."
            )
        return source

    def _track_stopped(self, track: PassthroughTrack) -> None:
        for source in self.sources.values():
            source.remove_viewer(track)

    async def close_session(self, session_id: str, reason: str) -> bool:
        """Close and forget a session (idempotent); False when unknown."""
        session = self.sessions.pop(session_id, None)
        if session is None or session.closing:
            return False
        session.closing = True
        session.close_reason = reason
        self.sessions_closed += 1
        self.close_reasons[reason] = self.close_reasons.get(reason, 0) + 1
        session.track.stop()
        if session.on_close is not None:
            session.on_close()
            session.on_close = None
        try:
            await asyncio.wait_for(session.pc.close(), timeout=5.0)
        except Exception:
            self.errors += 1
            log.exception("egress: closing session %s failed", session_id)
        session.pc.remove_all_listeners()
        log.info("egress: WHEP session %s closed (%s)", session_id, reason)
        return True

    # --- sweeper: expiry, silence, connect timeout, MJPEG idleness -------------------------

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.sweep()
            except Exception:
                self.errors += 1
                log.exception("egress sweeper failed")

    async def sweep(self) -> None:
        """One pass of the periodic checks (called every second)."""
        now = time.monotonic()
        wall = time.time()
        s = self.settings
        for session in list(self.sessions.values()):
            reason = None
            if session.expires_at is not None and wall >= session.expires_at:
                reason = "token expired"
            elif session.connected_at is None:
                if now - session.created > s.webrtc_connect_timeout:
                    reason = "connect timeout"
            else:
                last = await self._last_receiver_report(session)
                if last is not None:
                    session.last_rtcp = last
                ref = session.last_rtcp or session.connected_at
                if now - ref > s.webrtc_idle_timeout:
                    reason = "viewer silent"
            if reason is not None:
                await self.close_session(session.id, reason)
        for camera_id, enc in list(self.mjpeg.items()):
            if now - enc.last_keepalive > s.mjpeg_idle_timeout:
                self._stop_mjpeg(camera_id)

    async def _last_receiver_report(self, session: WhepSession) -> float | None:
        """Monotonic time of the viewer's last RTCP receiver report, if any."""
        try:
            report = await session.sender.getStats()
        except Exception:
            return None
        stamps = [st.timestamp for st in report.values() if st.type == "remote-inbound-rtp"]
        if not stamps:
            return None
        age = float((dt.datetime.now(dt.UTC) - max(stamps)).total_seconds())
        return time.monotonic() - max(0.0, age)

    # --- MJPEG -----------------------------------------------------------------------------

    async def _handle_mjpeg(self, data: bytes) -> EgressReply:
        req = MjpegKeepAlive.from_bytes(data)
        source = self.sources.get(req.camera_id)
        if source is None or not source.producing:
            raise EgressRefused(
                "STREAM_UNAVAILABLE", "The camera stream is not available right now."
            )
        enc = self.mjpeg.get(req.camera_id)
        if enc is None:
            camera_id = req.camera_id
            enc = MjpegEncoder(
                camera_id,
                self.settings,
                lambda jpeg, w, h, ts: source.post(self._publish_jpeg, camera_id, jpeg, w, h, ts),
            )
            if not source.add_frame_consumer(enc):
                raise EgressRefused(
                    "STREAM_UNAVAILABLE", "The camera stream is not available right now."
                )
            self.mjpeg[camera_id] = enc
            log.info("egress: MJPEG encoder started for camera %s", camera_id)
        enc.last_keepalive = time.monotonic()
        enc.clients = req.clients
        return MjpegReply(
            ok=True, subject=mjpeg_subject(req.camera_id), max_fps=self.settings.mjpeg_max_fps
        )

    def _publish_jpeg(self, camera_id: str, jpeg: bytes, w: int, h: int, ts: float) -> None:
        if self.bus is None or camera_id in self._mjpeg_inflight or camera_id not in self.mjpeg:
            return  # the previous frame is still being published: drop this one
        self._mjpeg_inflight.add(camera_id)
        headers = {"ts": f"{ts:.3f}", "w": str(w), "h": str(h)}

        async def publish() -> None:
            try:
                assert self.bus is not None
                await self.bus.publish(mjpeg_subject(camera_id), jpeg, headers)
            except Exception:
                self.errors += 1
            finally:
                self._mjpeg_inflight.discard(camera_id)

        self._spawn(publish(), "egress-mjpeg-publish")

    def _stop_mjpeg(self, camera_id: str) -> None:
        enc = self.mjpeg.pop(camera_id, None)
        source = self.sources.get(camera_id)
        if enc is not None:
            if source is not None:
                source.remove_frame_consumer(enc)
            log.info("egress: MJPEG encoder stopped for camera %s", camera_id)

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
        """Egress errors since start (hub + every source): ``WorkerHeartbeat.egressErrors``."""
        return self.errors + sum(s.errors for s in self.sources.values())

    @property
    def session_count(self) -> int:
        """Open WHEP sessions on this worker (``WorkerHeartbeat.egressSessions``)."""
        return len(self.sessions)

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
            "sessions": len(self.sessions),
            "sessionsCreated": self.sessions_created,
            "sessionsClosed": self.sessions_closed,
            "closeReasons": dict(self.close_reasons),
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


async def start_egress(manager: Any, bus: Bus, settings: object | None = None) -> EgressHub:
    """Create, start and install the worker's :class:`EgressHub` (settings from ``settings``
    attributes / ``BEHOLDER_*`` env, see :class:`EgressSettings`)."""
    hub = EgressHub(
        bus, EgressSettings.from_sources(settings), worker_id=str(getattr(manager, "worker_id", ""))
    )
    await hub.start()
    hub.install(manager)
    return hub
