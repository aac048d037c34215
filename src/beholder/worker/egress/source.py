r"""Per-camera egress source: the camera session's packets in, one stream per viewer out.

:class:`CameraSource` is a *PacketSink* of the worker's camera session. The session's demux
thread calls :meth:`on_stream_open` (a :class:`~beholder.worker.stream.StreamInfo`),
:meth:`on_packet` (a :class:`~beholder.worker.stream.RawPacket`) and :meth:`on_stream_closed`;
each call only posts the object to the event loop (``loop.call_soon_threadsafe``, O(1), never
blocks). On the loop the source

* decides the **egress mode** at stream open: ``passthrough`` for H.264 without B-frames
  (any profile: Chromium decodes Main/High without B-frames under the baseline label), else
  ``transcode`` (B-frames, another codec, or B-frames found later from pts/dts reordering);
* in passthrough, converts each packet to an Annex-B access unit (SPS/PPS on keyframes, see
  :mod:`~beholder.worker.h264`) and fans it out to every viewer's track — no decoding;
* in transcode, feeds one :class:`~beholder.worker.egress.decode.DecodePipeline` per camera
  (started only while someone watches) whose encoder output comes back through the encoder's
  ``publish`` callable and is fanned out the same way;
* keeps two :class:`~beholder.worker.egress.gop.GopCache`s — the access units and the raw
  packets since the last keyframe — so that a new viewer (or a decoder started late) begins
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
from typing import Any, Literal

from beholder.config import LiveViewSettings
from beholder.worker.egress.decode import DecodePipeline
from beholder.worker.egress.gop import GopCache
from beholder.worker.egress.timeline import Timeline
from beholder.worker.egress.track import EncodedFrame, PassthroughTrack
from beholder.worker.egress.transcode import TranscodeEncoder
from beholder.worker.h264 import AnnexBConverter, BitstreamError
from beholder.worker.stream import VIDEO_CLOCK, RawPacket, StreamInfo

log = logging.getLogger(__name__)

EgressMode = Literal["passthrough", "transcode", "none"]


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
        self._gop: GopCache[EncodedFrame] = GopCache(self.settings.egress_gop_cache_bytes)
        self._raw_gop: GopCache[RawPacket] = GopCache(self.settings.egress_gop_cache_bytes)
        self._last_in_pts: int | None = None
        self._stream_open = False
        self._keyframe_seen = False
        self._generation = 0
        self._pipeline: DecodePipeline | None = None  # created on demand
        self._transcoder: TranscodeEncoder | None = None
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

    def on_stream_open(self, info: StreamInfo) -> None:
        """The session (re)connected; ``info``: its stream's facts."""
        self.post(self._open, info)

    def on_packet(self, packet: RawPacket) -> None:
        """One demuxed video packet; O(1), never blocks."""
        self.post(self._ingest, packet)

    def on_stream_closed(self) -> None:
        """The session lost its stream (it will reconnect or stop)."""
        self.post(self._close_stream)

    def post(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on the source's loop (any thread; dropped once closed)."""
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
        self._raw_gop.clear()

    def _set_mode(self, mode: EgressMode, reason: str | None) -> None:
        if mode == self.mode:
            self.mode_reason = reason
            return
        if self.mode != "none":
            self.mode_switches += 1
        self.mode = mode
        self.mode_reason = reason
        self._gop.clear()
        for v in self.viewers:
            v.discontinuity()
        self._timeline.rebase()
        self._update_transcoder()

    # --- loop side: packets --------------------------------------------------------------

    def _ingest(self, raw: RawPacket) -> None:
        if self.closed or not self._stream_open or not raw.data:
            return
        self.packets_in += 1
        self.bytes_in += len(raw.data)
        self.last_packet_time = time.monotonic()
        if raw.keyframe:
            self._keyframe_seen = True
        if self.mode == "passthrough" and self._reordered(raw.pts):
            log.warning(
                "egress: camera %s has B-frames (pts reordering); transcoding", self.camera_id
            )
            self._set_mode("transcode", "B-frames")
            self._notify()
        self._raw_gop.add(raw)
        if self.mode == "passthrough":
            self._passthrough(raw)
        if self._pipeline is not None:
            self._pipeline.feed(raw)

    def _reordered(self, pts: int | None) -> bool:
        """True when presentation order differs from decode order (B-frames): a pts smaller
        than the previous one (a jump back of more than 10 s is a clock reset, not B-frames)."""
        reordered = False
        if pts is not None:
            last = self._last_in_pts
            if last is not None and pts < last and last - pts < 10 * self._ticks_per_second():
                reordered = True
            self._last_in_pts = pts
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
            ts = self._timeline.next_guess()
        self.publish(EncodedFrame(data, self._timeline.map(ts), raw.keyframe, raw.ingest_time))

    def publish(self, frame: EncodedFrame) -> None:
        """Fan a ready access unit out to every viewer and into the GOP cache (loop only)."""
        if frame.keyframe:
            self.keyframes += 1
        self._gop.add(frame)
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

    def _from_encoder(self, data: bytes, pts90: int, keyframe: bool, ingest_time: float) -> None:
        """The transcoder's ``publish`` (decode thread): stamp the stream generation now, so
        output of a stream that has since reconnected is dropped on the loop."""
        self.post(self.publish_transcoded, data, pts90, keyframe, ingest_time, self._generation)

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
        return self._gop.snapshot()

    def raw_gop_snapshot(self) -> list[RawPacket]:
        """The cached source packets since the last keyframe (copy)."""
        return self._raw_gop.snapshot()

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

    def _ensure_pipeline(self) -> DecodePipeline | None:
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
        want = self.mode == "transcode" and bool(self.viewers or self._holds) and not self.closed
        if want and self._transcoder is None and self.info is not None:
            pipeline = self._ensure_pipeline()
            assert pipeline is not None  # self.info is known
            self._transcoder = TranscodeEncoder(self.settings, self._from_encoder)
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
            "gopBytes": self._gop.bytes,
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
