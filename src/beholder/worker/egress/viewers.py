"""WHEP viewer sessions of the worker's egress hub: one aiortc peer connection per viewer,
its negotiation, viewer limits, closing, and the once-a-second sweep.

:class:`ViewerRegistry` is owned by :class:`~beholder.worker.egress.hub.EgressHub` (which
answers the bus requests and owns the camera sources and MJPEG encoders). Everything runs on
the worker's loop.

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
import datetime as dt
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from beholder.config import LiveViewSettings
from beholder.contracts.live import WhepAnswer, WhepOffer
from beholder.errors import BusError, ErrorCode
from beholder.messages import new_id
from beholder.worker.egress import ice
from beholder.worker.egress.errors import EgressRefused
from beholder.worker.egress.quota import ClusterSessionQuota
from beholder.worker.egress.source import CameraSource
from beholder.worker.egress.track import PassthroughTrack

_FIRST_KEYFRAME_WAIT_S = 4.0
"""How long an offer may wait for a just-opened stream's first keyframe (seconds)."""

log = logging.getLogger(__name__)

MAX_SDP_BYTES = 64 * 1024


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


class ViewerRegistry:
    """The WHEP viewer sessions of a worker's egress hub, with their limits and sweeper.

    Owns ``sessions`` (open sessions by id), the viewer slots reserved while offers are
    negotiated, and the session counters. Reads the hub's camera ``sources`` (never changes
    them) and asks ``is_detaching(camera_id)`` whether a camera's session just ended (its
    viewers wait for a restart: no new ones). ``spawn(coro, name)`` runs a task the hub
    tracks. ``quota``: the cluster-wide per-principal count (distributed mode), on top of
    this worker's own; ``None`` on one box, where this worker's count is the whole count.
    Everything runs on the worker's loop."""

    def __init__(
        self,
        settings: LiveViewSettings,
        sources: Mapping[str, CameraSource],
        *,
        is_detaching: Callable[[str], bool],
        spawn: Callable[[Awaitable[Any], str], object],
        quota: ClusterSessionQuota | None = None,
    ) -> None:
        self.settings = settings
        self.quota = quota
        self.sources = sources
        self.networks = ice.allowed_networks(settings)
        self.sessions: dict[str, WhepSession] = {}
        self.sessions_created = 0
        self.sessions_closed = 0
        self.close_reasons: dict[str, int] = {}
        self.errors = 0
        self._is_detaching = is_detaching
        self._spawn = spawn
        self._pending: dict[str, int] = {}  # camera id -> offers being negotiated
        self._pending_principal: dict[str, int] = {}  # principal key -> offers negotiated

    # --- WHEP sessions -----------------------------------------------------------------------

    async def _await_first_keyframe(self, camera_id: str) -> None:
        """Hold an offer that arrives between the stream opening and its first keyframe.

        The camera is reported PROCESSING as soon as its stream opens, but a viewer can
        only start from a keyframe; waiting up to ``_FIRST_KEYFRAME_WAIT_S`` here (about
        one GOP of a real camera) spares the viewer a refused offer and a retry."""
        deadline = time.monotonic() + _FIRST_KEYFRAME_WAIT_S
        while time.monotonic() < deadline:
            source = self.sources.get(camera_id)
            if source is None or source.producing or self._is_detaching(camera_id):
                return
            await asyncio.sleep(0.05)

    def _check_capacity(self, camera_id: str) -> CameraSource:
        source = self.sources.get(camera_id)
        if source is None or self._is_detaching(camera_id) or not source.producing:
            raise EgressRefused(
                ErrorCode.STREAM_UNAVAILABLE, "The camera stream is not available right now."
            )
        per_camera = sum(1 for s in self.sessions.values() if s.camera_id == camera_id)
        per_camera += self._pending.get(camera_id, 0)
        if per_camera >= self.settings.webrtc_max_viewers_per_camera:
            raise EgressRefused(ErrorCode.SERVICE_UNAVAILABLE, "Too many viewers on this camera.")
        if len(self.sessions) + sum(self._pending.values()) >= self.settings.webrtc_max_viewers:
            raise EgressRefused(
                ErrorCode.SERVICE_UNAVAILABLE, "Too many live viewers on this server."
            )
        return source

    def _check_principal(self, principal: str) -> None:
        """Refuse a principal's offer past ``webrtc_max_sessions_per_principal``: its open
        sessions (``sessions`` forgets one as soon as it is closed, whatever closed it) plus
        its offers being negotiated. Raises ``EgressRefused`` ``RATE_LIMIT_EXCEEDED`` (429)."""
        held = sum(1 for s in self.sessions.values() if s.principal == principal)
        held += self._pending_principal.get(principal, 0)
        if held >= self.settings.webrtc_max_sessions_per_principal:
            raise EgressRefused(
                ErrorCode.RATE_LIMIT_EXCEEDED,
                "Too many live views open. Close one, then try again.",
                f"{principal} holds {held} sessions",
            )

    async def create(self, offer: WhepOffer) -> WhepAnswer:
        """Answer a viewer's offer (see :meth:`_negotiate`); viewer slots are reserved while
        negotiating so concurrent offers cannot exceed the limits (per camera, per worker,
        per principal: ``RATE_LIMIT_EXCEEDED`` past ``webrtc_max_sessions_per_principal``)."""
        await self._await_first_keyframe(offer.camera_id)
        self._check_principal(offer.principal)
        self._check_capacity(offer.camera_id)
        cid, who = offer.camera_id, offer.principal
        sid = new_id()
        self._pending[cid] = self._pending.get(cid, 0) + 1
        self._pending_principal[who] = self._pending_principal.get(who, 0) + 1
        try:
            claimed = await self._claim(who, sid)
            try:
                return await self._negotiate(offer, sid)
            except BaseException:
                if claimed:
                    self._spawn(self._unclaim(who, sid), "egress-unclaim")
                raise
        finally:
            self._pending[cid] -= 1
            if not self._pending[cid]:
                del self._pending[cid]
            self._pending_principal[who] -= 1
            if not self._pending_principal[who]:
                del self._pending_principal[who]

    async def _claim(self, principal: str, session_id: str) -> bool:
        """Count the session cluster-wide (True when counted). Raises ``EgressRefused``
        past the cap. The bucket unreachable: the offer goes on under this worker's own
        count (still bounded), rather than no live view while NATS KV is away."""
        if self.quota is None:
            return False
        try:
            await self.quota.reserve(principal, session_id)
        except BusError as exc:
            log.warning("egress: cluster session count unavailable: %s", exc.detail)
            return False
        return True

    async def _unclaim(self, principal: str, session_id: str) -> None:
        if self.quota is None:
            return
        try:
            await self.quota.release(principal, session_id)
        except BusError as exc:  # the claim lapses after its TTL
            log.warning("egress: cluster session claim not released: %s", exc.detail)

    async def renew_claims(self) -> None:
        """Renew this worker's cluster-wide session claims when due (the sweep calls it)."""
        if self.quota is None or not self.quota.renewal_due():
            return
        held: dict[str, list[str]] = {}
        for session in self.sessions.values():
            held.setdefault(session.principal, []).append(session.id)
        await self.quota.renew(held, is_open=lambda sid: sid in self.sessions)

    async def _negotiate(self, offer: WhepOffer, sid: str) -> WhepAnswer:
        """Answer a viewer's offer. Raises :class:`EgressRefused` with ``STREAM_UNAVAILABLE``
        (camera not producing), ``SERVICE_UNAVAILABLE`` (viewer limit) or ``INVALID_INPUT``
        (SDP unusable: malformed, no video, no H.264)."""
        if offer.expires_at is not None and offer.expires_at <= time.time():
            raise EgressRefused(ErrorCode.UNAUTHORIZED, "Sign in to continue.")
        if len(offer.sdp.encode()) > MAX_SDP_BYTES or "m=video" not in offer.sdp:
            raise EgressRefused(ErrorCode.INVALID_INPUT, "The offer must contain H.264 video.")
        sdp, dropped = ice.filter_sdp_candidates(offer.sdp, self.networks)
        pc = RTCPeerConnection(ice.rtc_configuration(self.settings))
        WhepSession.alive.add(pc)
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
                    ErrorCode.INVALID_INPUT,
                    "The offer is not a usable WebRTC video offer.",
                    str(exc),
                ) from exc
            negotiated = [c.mimeType.lower() for c in getattr(transceiver, "_codecs", [])]
            if transceiver.mid is None or not negotiated or negotiated[0] != "video/h264":
                raise EgressRefused(
                    ErrorCode.INVALID_INPUT,
                    "The offer must accept H.264 video.",
                    f"codecs={negotiated}",
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
                    self._spawn(self.close(sid, f"connection {state}"), "egress-close")

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
                ErrorCode.STREAM_UNAVAILABLE, "The camera stream is not available right now."
            )
        return source

    def _track_stopped(self, track: PassthroughTrack) -> None:
        for source in self.sources.values():
            source.remove_viewer(track)

    async def close(self, session_id: str, reason: str) -> bool:
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
        await self._unclaim(session.principal, session_id)
        log.info("egress: WHEP session %s closed (%s)", session_id, reason)
        return True

    async def close_camera(self, camera_id: str, reason: str) -> None:
        """Close every session of ``camera_id``."""
        for s in [s for s in self.sessions.values() if s.camera_id == camera_id]:
            await self.close(s.id, reason)

    def owned(
        self, camera_id: str, session_id: str, principal: str, any_owner: bool
    ) -> WhepSession:
        """The session ``session_id`` of ``camera_id`` if ``principal`` may act on it.

        Raises :class:`EgressRefused` ``NOT_FOUND`` or ``PERMISSION_DENIED``."""
        session = self.sessions.get(session_id)
        if session is None or session.camera_id != camera_id:
            raise EgressRefused(ErrorCode.NOT_FOUND, "This live view session does not exist.")
        if session.principal != principal and not any_owner:
            raise EgressRefused(ErrorCode.PERMISSION_DENIED, "This live view session is not yours.")
        return session

    # --- sweeper: expiry, silence, connect timeout ------------------------------------------

    async def sweep(self) -> None:
        """One pass of the periodic checks (the hub calls it every second)."""
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
                await self.close(session.id, reason)

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
