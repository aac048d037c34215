"""Per-camera egress source: the camera session's packets in, one stream per viewer out.

:class:`CameraSource` is a *PacketSink* of the worker's camera session. The session's demux
thread calls :meth:`on_stream_open`, :meth:`on_packet` and :meth:`on_stream_closed`; each
call only posts the object to the event loop (``loop.call_soon_threadsafe``, O(1), never
blocks). On the loop the source

* decides the **egress mode** at stream open: ``passthrough`` for H.264 without B-frames
  (any profile: Chromium decodes Main/High without B-frames under the baseline label), else
  ``transcode`` (B-frames, another codec, or B-frames found later from pts/dts reordering);
* in passthrough, converts each packet to an Annex-B access unit (SPS/PPS on keyframes, see
  :mod:`~beholder.worker.egress.h264`) and fans it out to every viewer's track — no decoding;
* in transcode, feeds one :class:`~beholder.worker.egress.transcode.DecodePipeline` per camera
  (started only while someone watches) whose encoder output is fanned out the same way;
* keeps the **GOP cache** — the frames since the last keyframe — so that a new viewer starts
  from that keyframe at once instead of waiting for the camera's next one;
* keeps one **output timeline** (90 kHz, monotonic across reconnects and mode switches), so a
  camera restart does not look like a clock jump to viewers that stay connected.

Thread-safety: the three sink methods and :meth:`stats` may be called from any thread;
everything else must be called on the loop that created the source.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from beholder.config import LiveViewSettings
from beholder.worker.egress.h264 import (
    PROFILES,
    AnnexBConverter,
    BitstreamError,
    parameter_sets,
    sps_profile,
)
from beholder.worker.egress.track import VIDEO_CLOCK, EncodedFrame, PassthroughTrack

log = logging.getLogger(__name__)

EgressMode = Literal["passthrough", "transcode", "none"]


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What egress needs to know about the camera's video stream (read at stream open).

    ``time_base``: seconds per pts tick. ``fps``: nominal rate or ``None``."""

    codec: str
    extradata: bytes | None
    has_b_frames: bool
    profile: str | None
    width: int
    height: int
    time_base: fractions.Fraction
    fps: float | None

    @classmethod
    def from_stream(cls, stream: Any) -> StreamInfo:
        """Read a PyAV ``VideoStream`` (any thread; touches only plain attributes)."""
        cc = stream.codec_context
        tb = stream.time_base or fractions.Fraction(1, VIDEO_CLOCK)
        rate = stream.average_rate or stream.guessed_rate or getattr(cc, "framerate", None)
        extradata = bytes(cc.extradata) if cc.extradata else None
        profile = cc.profile if isinstance(cc.profile, str) else None
        if cc.name == "h264" and profile is None and extradata:
            with contextlib.suppress(BitstreamError):
                p = sps_profile(parameter_sets(extradata))
                profile = PROFILES.get(p[0]) if p else None
        return cls(
            codec=cc.name,
            extradata=extradata,
            has_b_frames=bool(getattr(cc, "has_b_frames", False)),
            profile=profile,
            width=int(cc.width or stream.width or 0),
            height=int(cc.height or stream.height or 0),
            time_base=fractions.Fraction(tb),
            fps=float(rate) if rate else None,
        )

    def passthrough_problem(self) -> str | None:
        """Why a browser cannot take this stream as-is, or ``None`` when it can."""
        if self.codec != "h264":
            return f"codec {self.codec}"
        if self.has_b_frames:
            return "B-frames"
        return None


@dataclass(frozen=True, slots=True)
class RawPacket:
    """A source packet kept for decoding (transcode / MJPEG): bytes as demuxed, pts/dts in the
    stream time base."""

    data: bytes
    pts: int | None
    dts: int | None
    keyframe: bool
    ingest_time: float


class Timeline:
    """Maps input timestamps (90 kHz) onto one monotonic output timeline.

    A jump backwards or more than ``max_gap`` forward (reconnect, wrap, new encoder) re-bases
    so that the next frame follows the previous one by ``step`` ticks."""

    def __init__(self, max_gap: int = 10 * VIDEO_CLOCK) -> None:
        self.offset: int | None = None
        self.last_out: int | None = None
        self.step = VIDEO_CLOCK // 25
        self.max_gap = max_gap

    def map(self, ts: int) -> int:
        """Output timestamp (90 kHz ticks) of input ``ts``."""
        if self.offset is None:
            self.offset = (self.last_out + self.step - ts) if self.last_out is not None else -ts
        out = ts + self.offset
        if self.last_out is not None and not (0 < out - self.last_out <= self.max_gap):
            self.offset = self.last_out + self.step - ts
            out = ts + self.offset
        if self.last_out is not None and 0 < out - self.last_out < self.max_gap:
            self.step = max(1, min(out - self.last_out, VIDEO_CLOCK))
        self.last_out = out
        return out

    def rebase(self) -> None:
        """Next input timestamp continues the output timeline (new stream or encoder)."""
        self.offset = None


class CameraSource:
    """Fan-out of one camera to its viewers (see the module docstring).

    ``camera_id``: for logs and stats. ``loop``: the event loop viewers live on (default:
    the running loop). ``settings``: :class:`~beholder.config.LiveViewSettings`."""

    def __init__(
        self,
        camera_id: str,
        settings: LiveViewSettings,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.settings = settings
        self.loop = loop or asyncio.get_running_loop()
        self.info: StreamInfo | None = None
        self.mode: EgressMode = "none"
        self.mode_reason: str | None = None
        self.viewers: set[PassthroughTrack] = set()
        self.closed = False
        self._converter: AnnexBConverter | None = None
        self._timeline = Timeline()
        self._gop: list[EncodedFrame] = []
        self._gop_bytes = 0
        self._gop_valid = False
        self._raw_gop: list[RawPacket] = []
        self._raw_bytes = 0
        self._last_in_pts: int | None = None
        self._last_dts: int | None = None
        self._stream_open = False
        self._keyframe_seen = False
        self._generation = 0
        self._pipeline: Any = None  # transcode.DecodePipeline, created on demand
        self._transcoder: Any = None
        self._mjpeg: Any = None
        self.listeners: list[Callable[[CameraSource], None]] = []
        self._holds = 0
        # counters (read by stats() from any thread)
        self.packets_in = 0
        self.bytes_in = 0
        self.frames_out = 0
        self.keyframes = 0
        self.errors = 0
        self.reconnects = 0
        self.mode_switches = 0
        self.transcoder_starts = 0
        self.decoded_total = 0
        self.encoded_total = 0
        self.last_packet_time: float | None = None

    # --- PacketSink (any thread) ---------------------------------------------------------

    def on_stream_open(self, stream: Any) -> None:
        """The session (re)connected; ``stream`` is its PyAV video stream."""
        try:
            info = StreamInfo.from_stream(stream)
        except Exception:
            log.exception("egress: unreadable stream on camera %s", self.camera_id)
            self.errors += 1
            return
        self.post(self._open, info)

    def on_packet(self, packet: Any) -> None:
        """One demuxed video packet (``av.Packet``); O(1), never blocks."""
        self.post(self._ingest, packet, time.time())

    def on_stream_closed(self) -> None:
        """The session lost its stream (it will reconnect or stop)."""
        self.post(self._close_stream)

    def post(self, fn: Callable[..., None], *args: Any) -> None:
        if self.closed:
            return
        with contextlib.suppress(RuntimeError):  # loop closed: nobody watches any more
            self.loop.call_soon_threadsafe(fn, *args)

    # --- loop side: stream state -----------------------------------------------------------

    def _open(self, info: StreamInfo) -> None:
        if self.closed:
            return
        if self._stream_open:
            self._close_stream()
        self.info = info
        self._stream_open = True
        self._generation += 1
        if self._generation > 1:
            self.reconnects += 1
        self._last_in_pts = None
        self._last_dts = None
        self._keyframe_seen = False
        self._timeline.rebase()
        problem = info.passthrough_problem()
        try:
            self._converter = AnnexBConverter(info.extradata) if info.codec == "h264" else None
        except BitstreamError:
            self._converter = None
            problem = problem or "unreadable H.264 parameter sets"
        self._set_mode("transcode" if problem else "passthrough", problem)
        if self._pipeline is not None:
            self._pipeline.reopen(info)
        log.info(
            "egress: camera %s stream %s %dx%d profile=%s b_frames=%s → %s",
            self.camera_id,
            info.codec,
            info.width,
            info.height,
            info.profile,
            info.has_b_frames,
            self.mode,
        )
        self._notify()

    def _close_stream(self) -> None:
        self._stream_open = False
        self._keyframe_seen = False
        self._reset_caches()
        for v in self.viewers:
            v.discontinuity()
        self._notify()

    def _reset_caches(self) -> None:
        self._gop.clear()
        self._gop_bytes = 0
        self._gop_valid = False
        self._raw_gop.clear()
        self._raw_bytes = 0

    def _set_mode(self, mode: EgressMode, reason: str | None) -> None:
        if mode == self.mode:
            self.mode_reason = reason
            return
        if self.mode != "none":
            self.mode_switches += 1
        self.mode = mode
        self.mode_reason = reason
        self._gop.clear()
        self._gop_bytes = 0
        self._gop_valid = False
        for v in self.viewers:
            v.discontinuity()
        self._timeline.rebase()
        self._update_transcoder()

    # --- loop side: packets --------------------------------------------------------------

    def _ingest(self, packet: Any, ingest_time: float) -> None:
        if self.closed:
            return
        if not self._stream_open:
            stream = getattr(packet, "stream", None)
            if stream is None:
                return
            self.on_stream_open(stream)  # attached mid-stream: learn it from the packet
            self.post(self._ingest, packet, ingest_time)
            return
        try:
            data = bytes(packet)
        except Exception:
            self.errors += 1
            return
        if not data:
            return
        self.packets_in += 1
        self.bytes_in += len(data)
        self.last_packet_time = time.monotonic()
        keyframe = bool(packet.is_keyframe)
        if keyframe:
            self._keyframe_seen = True
        pts, dts = packet.pts, packet.dts
        if self.mode == "passthrough" and self._reordered(pts, dts):
            log.warning(
                "egress: camera %s has B-frames (pts reordering); transcoding", self.camera_id
            )
            self._set_mode("transcode", "B-frames")
            self._notify()
        raw = RawPacket(data, pts, dts, keyframe, ingest_time)
        self._cache_raw(raw)
        if self.mode == "passthrough":
            self._passthrough(raw)
        if self._pipeline is not None:
            self._pipeline.feed(raw)

    def _reordered(self, pts: int | None, dts: int | None) -> bool:
        """True when presentation order differs from decode order (B-frames): a pts smaller
        than the previous one (a jump back of more than 10 s is a clock reset, not B-frames)."""
        reordered = False
        if pts is not None:
            last = self._last_in_pts
            if last is not None and pts < last and last - pts < 10 * self._ticks_per_second():
                reordered = True
            self._last_in_pts = pts
        if dts is not None:
            self._last_dts = dts
        return reordered

    def _ticks_per_second(self) -> int:
        tb = self.info.time_base if self.info else fractions.Fraction(1, VIDEO_CLOCK)
        return max(1, int(1 / tb))

    def _to_90k(self, pts: int | None) -> int | None:
        if pts is None or self.info is None:
            return None
        return int(pts * self.info.time_base * VIDEO_CLOCK)

    def _passthrough(self, raw: RawPacket) -> None:
        assert self._converter is not None
        try:
            data = self._converter.convert(raw.data, raw.keyframe)
        except BitstreamError as exc:
            self.errors += 1
            log.debug("egress: camera %s bad packet dropped: %s", self.camera_id, exc)
            return
        ts = self._to_90k(raw.pts if raw.pts is not None else raw.dts)
        if ts is None:
            ts = (self._timeline.last_out or 0) + self._timeline.step - (self._timeline.offset or 0)
        self.publish(EncodedFrame(data, self._timeline.map(ts), raw.keyframe, raw.ingest_time))

    def publish(self, frame: EncodedFrame) -> None:
        """Fan a ready access unit out to every viewer and into the GOP cache (loop only)."""
        if frame.keyframe:
            self.keyframes += 1
            self._gop.clear()
            self._gop_bytes = 0
            self._gop_valid = True
        if self._gop_valid:
            self._gop.append(frame)
            self._gop_bytes += len(frame.data)
            if self._gop_bytes > self.settings.egress_gop_cache_bytes:
                self._gop.clear()
                self._gop_bytes = 0
                self._gop_valid = False
        self.frames_out += 1
        for v in self.viewers:
            v.push(frame)

    def publish_transcoded(
        self, data: bytes, pts90: int, keyframe: bool, ingest_time: float, generation: int
    ) -> None:
        """Encoder output (from the decode thread via the loop); stale generations dropped."""
        if self.closed or self.mode != "transcode" or generation != self._generation:
            return
        self.publish(EncodedFrame(data, self._timeline.map(pts90), keyframe, ingest_time))

    def _cache_raw(self, raw: RawPacket) -> None:
        if raw.keyframe:
            self._raw_gop.clear()
            self._raw_bytes = 0
        elif not self._raw_gop:
            return
        self._raw_gop.append(raw)
        self._raw_bytes += len(raw.data)
        if self._raw_bytes > self.settings.egress_gop_cache_bytes:
            self._raw_gop.clear()
            self._raw_bytes = 0

    # --- viewers -------------------------------------------------------------------------

    @property
    def producing(self) -> bool:
        """True when a viewer added now would get a picture soon: the stream is open and a
        keyframe has been seen (or the transcoder can produce one from the raw cache)."""
        if not self._stream_open or self.closed:
            return False
        return self._keyframe_seen

    def gop_snapshot(self) -> list[EncodedFrame]:
        """The cached frames since the last keyframe (copy)."""
        return list(self._gop) if self._gop_valid else []

    def raw_gop_snapshot(self) -> list[RawPacket]:
        """The cached source packets since the last keyframe (copy)."""
        return list(self._raw_gop)

    def add_viewer(self, track: PassthroughTrack) -> None:
        """Start sending to ``track``, beginning with the GOP cache."""
        if self.closed:
            track.stop()
            return
        self.viewers.add(track)
        track.on("ended", lambda: self.remove_viewer(track))
        track.prime(self.gop_snapshot())
        self._update_transcoder()
        self._notify()

    def hold(self) -> None:
        """A viewer is negotiating: start the transcoder now (if this camera needs one) so
        its first keyframe is in the GOP cache when the viewer connects. Pair with
        :meth:`release`."""
        self._holds += 1
        self._update_transcoder()

    def release(self) -> None:
        """End a :meth:`hold` (the viewer connected or gave up)."""
        self._holds = max(0, self._holds - 1)
        self._update_transcoder()

    def remove_viewer(self, track: PassthroughTrack) -> None:
        """Stop sending to ``track`` (idempotent)."""
        if track in self.viewers:
            self.viewers.discard(track)
            self._update_transcoder()
            self._notify()

    def _notify(self) -> None:
        for cb in list(self.listeners):
            try:
                cb(self)
            except Exception:
                log.exception("egress listener failed")

    # --- decode consumers (transcode, MJPEG) ----------------------------------------------

    def _ensure_pipeline(self) -> Any:
        from beholder.worker.egress.transcode import DecodePipeline

        if self._pipeline is None and self.info is not None:
            self._pipeline = DecodePipeline(self.camera_id, self.info)
            self._pipeline.start(self.raw_gop_snapshot())
        return self._pipeline

    def _maybe_stop_pipeline(self) -> None:
        if self._pipeline is not None and not self._pipeline.consumers:
            self.decoded_total += self._pipeline.decoded
            self._pipeline.stop()
            self._pipeline = None

    def _update_transcoder(self) -> None:
        from beholder.worker.egress.transcode import TranscodeEncoder

        want = self.mode == "transcode" and bool(self.viewers or self._holds) and not self.closed
        if want and self._transcoder is None and self.info is not None:
            pipeline = self._ensure_pipeline()
            self._transcoder = TranscodeEncoder(self, self.settings)
            self.transcoder_starts += 1
            pipeline.add_consumer(self._transcoder)
            log.info("egress: camera %s transcoder started", self.camera_id)
        elif not want and self._transcoder is not None:
            if self._pipeline is not None:
                self._pipeline.remove_consumer(self._transcoder)
            self.encoded_total += self._transcoder.encoded
            self._transcoder = None
            self._maybe_stop_pipeline()
            log.info("egress: camera %s transcoder stopped", self.camera_id)

    def add_frame_consumer(self, consumer: Any) -> bool:
        """Attach a decoded-frame consumer (MJPEG); False when no stream is known yet."""
        pipeline = self._ensure_pipeline()
        if pipeline is None:
            return False
        pipeline.add_consumer(consumer)
        return True

    def remove_frame_consumer(self, consumer: Any) -> None:
        """Detach a decoded-frame consumer; stops decoding when none is left."""
        if self._pipeline is not None:
            self._pipeline.remove_consumer(consumer)
            self._maybe_stop_pipeline()

    @property
    def generation(self) -> int:
        """Increments at each stream open; transcoder output of older streams is dropped."""
        return self._generation

    # --- stats and teardown ----------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Egress figures for ``StreamStats`` and health (any thread).

        ``egress``: ``passthrough|transcode|none``; ``viewers``: live WebRTC viewers;
        ``decodedFrames``/``encodedFrames``: work done by the server on this camera (both 0
        in pure passthrough); ``errors``: bad packets and decode/encode failures."""
        pipeline = self._pipeline
        transcoder = self._transcoder
        return {
            "egress": self.mode,
            "egressReason": self.mode_reason,
            "viewers": len(self.viewers),
            "packetsIn": self.packets_in,
            "framesOut": self.frames_out,
            "gopFrames": len(self._gop),
            "gopBytes": self._gop_bytes,
            "decodedFrames": self.decoded_total + (pipeline.decoded if pipeline is not None else 0),
            "encodedFrames": self.encoded_total
            + (transcoder.encoded if transcoder is not None else 0),
            "transcoderStarts": self.transcoder_starts,
            "errors": self.errors + (pipeline.errors if pipeline is not None else 0),
            "reconnects": self.reconnects,
            "droppedFrames": sum(v.frames_dropped for v in list(self.viewers)),
        }

    def close(self) -> None:
        """Stop every viewer track and the decode pipeline (loop only; idempotent)."""
        if self.closed:
            return
        self.closed = True
        for v in list(self.viewers):
            v.stop()
        self.viewers.clear()
        self._transcoder = None
        if self._pipeline is not None:
            self._pipeline.stop()
            self._pipeline = None
        self._reset_caches()
        self._notify()
