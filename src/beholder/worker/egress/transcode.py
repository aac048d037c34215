"""Decoding for the egress paths that need pictures, once per camera.

:class:`DecodePipeline` runs one thread per camera — only while a consumer is attached — that
decodes the camera's packets and hands each picture to its consumers:

* :class:`TranscodeEncoder` re-encodes for browsers that cannot take the source as-is
  (B-frames, another codec): H.264 Constrained Baseline via libx264 (``ultrafast``,
  ``zerolatency``, no B-frames), at most ``transcode_max_width``x``transcode_max_height`` and
  ``transcode_max_fps``, a keyframe every ``transcode_gop_seconds``; its output is fanned out
  by the :class:`~beholder.worker.egress.source.CameraSource` exactly like passthrough, so
  one encode serves every viewer;
* the MJPEG encoder of :mod:`~beholder.worker.egress.mjpeg`.

The packet queue is bounded: when decoding falls behind, queued packets are dropped up to the
next keyframe (counted in ``dropped``), so ingest and other cameras never wait for it.
"""

from __future__ import annotations

import contextlib
import fractions
import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

import av

from beholder.config import LiveViewSettings
from beholder.worker.egress.track import VIDEO_CLOCK

if TYPE_CHECKING:
    from beholder.worker.egress.source import CameraSource, RawPacket, StreamInfo

log = logging.getLogger(__name__)


class FrameConsumer(Protocol):
    """Receives decoded pictures in the decode thread; must not block for long."""

    def on_frame(self, frame: Any, ingest_time: float) -> None:
        """``frame``: ``av.VideoFrame`` with ``time`` in seconds (stream clock)."""

    def on_reset(self) -> None:
        """The stream changed (reconnect): drop encoder state."""


_STOP = object()
_REOPEN = object()


class DecodePipeline:
    """One decoder thread per camera, fed with :class:`RawPacket` objects from the loop.

    ``queue_size``: packets buffered before dropping to the next keyframe."""

    def __init__(self, camera_id: str, info: StreamInfo, queue_size: int = 120) -> None:
        self.camera_id = camera_id
        self.info = info
        self.consumers: list[FrameConsumer] = []
        self._lock = threading.Lock()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._skip_to_keyframe = False
        self._seed_until: int | None = None
        self.decoded = 0
        self.dropped = 0
        self.errors = 0

    def start(self, seed: list[RawPacket]) -> None:
        """Start the thread, decoding ``seed`` (the raw GOP cache) first; of the seed only the
        newest picture is handed to consumers, so the first output is the current picture."""
        for raw in seed:
            self._put(raw)
        pts = [r.pts for r in seed if r.pts is not None]
        self._seed_until = max(pts) if pts else None
        self._thread = threading.Thread(
            target=self._run, name=f"egress-decode-{self.camera_id[:8]}", daemon=True
        )
        self._thread.start()

    def feed(self, raw: RawPacket) -> None:
        """Queue a packet without blocking (drops to the next keyframe when full)."""
        if self._skip_to_keyframe:
            if not raw.keyframe:
                self.dropped += 1
                return
            self._skip_to_keyframe = False
        self._put(raw)

    def _put(self, item: Any) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._drain()
            self._skip_to_keyframe = True
            self.dropped += 1
            if getattr(item, "keyframe", False):
                self._skip_to_keyframe = False
                self._queue.put_nowait(item)

    def _drain(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is _STOP:
                self._queue.put_nowait(_STOP)
                return
            self.dropped += 1

    def reopen(self, info: StreamInfo) -> None:
        """The stream reconnected with (maybe) new parameters: new decoder from now on."""
        self.info = info
        self._drain()
        self._skip_to_keyframe = True
        self._put(_REOPEN)

    def add_consumer(self, consumer: FrameConsumer) -> None:
        with self._lock:
            if consumer not in self.consumers:
                self.consumers.append(consumer)

    def remove_consumer(self, consumer: FrameConsumer) -> None:
        with self._lock:
            if consumer in self.consumers:
                self.consumers.remove(consumer)

    def stop(self) -> None:
        """Ask the thread to end (returns at once; the thread exits within one packet)."""
        self._drain()
        with contextlib.suppress(queue.Full):  # drained just above
            self._queue.put_nowait(_STOP)

    def join(self, timeout: float = 2.0) -> None:
        """Wait for the thread (tests and shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)

    # --- decode thread -----------------------------------------------------------------------

    def _new_decoder(self) -> Any:
        ctx = av.CodecContext.create(self.info.codec, "r")
        if self.info.extradata:
            ctx.extradata = self.info.extradata
        ctx.thread_count = 1
        return ctx

    def _run(self) -> None:
        decoder = None
        try:
            decoder = self._new_decoder()
        except Exception:
            self.errors += 1
            log.exception("egress: no decoder for camera %s (%s)", self.camera_id, self.info.codec)
        tb = self.info.time_base
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if item is _REOPEN:
                tb = self.info.time_base
                try:
                    decoder = self._new_decoder()
                except Exception:
                    decoder = None
                    self.errors += 1
                for c in self._snapshot():
                    c.on_reset()
                continue
            if decoder is None:
                continue
            try:
                packet = av.Packet(item.data)
                packet.pts = item.pts
                packet.dts = item.dts
                packet.time_base = tb
                frames = decoder.decode(packet)
            except Exception as exc:
                self.errors += 1
                log.debug("egress: decode error on camera %s: %s", self.camera_id, exc)
                continue
            for frame in frames:
                self.decoded += 1
                if self._seed_until is not None:
                    if frame.pts is not None and frame.pts < self._seed_until:
                        continue
                    self._seed_until = None
                for c in self._snapshot():
                    try:
                        c.on_frame(frame, item.ingest_time)
                    except Exception:
                        self.errors += 1
                        log.exception("egress: frame consumer failed on camera %s", self.camera_id)

    def _snapshot(self) -> list[FrameConsumer]:
        with self._lock:
            return list(self.consumers)


def bounded_size(width: int, height: int, max_w: int, max_h: int) -> tuple[int, int]:
    """Largest even size ≤ (max_w, max_h) with the aspect ratio of widthxheight."""
    scale = min(1.0, max_w / max(1, width), max_h / max(1, height))
    w = max(2, int(width * scale) // 2 * 2)
    h = max(2, int(height * scale) // 2 * 2)
    return w, h


class RateGate:
    """Lets through at most ``fps`` frames per second of stream time (``None``/0: all)."""

    def __init__(self, fps: float | None) -> None:
        self.interval = 1.0 / fps if fps else 0.0
        self.next_time: float | None = None

    def allow(self, t: float) -> bool:
        """True when a frame at stream time ``t`` (seconds) should be kept."""
        if not self.interval:
            return True
        if self.next_time is not None and t < self.next_time and self.next_time - t < 5.0:
            return False
        base = t if self.next_time is None or t - self.next_time > self.interval else self.next_time
        self.next_time = base + self.interval
        return True


class TranscodeEncoder:
    """H.264 Constrained Baseline encoder fed by :class:`DecodePipeline` (decode thread);
    output goes to ``source.publish_transcoded`` on the loop."""

    def __init__(self, source: CameraSource, settings: LiveViewSettings) -> None:
        self.source = source
        self.settings = settings
        self.gate = RateGate(settings.transcode_max_fps)
        self._encoder: Any = None
        self._size: tuple[int, int] | None = None
        self.encoded = 0
        self.errors = 0

    def on_reset(self) -> None:
        self._encoder = None
        self._size = None
        self.gate = RateGate(self.settings.transcode_max_fps)

    def _open(self, width: int, height: int) -> Any:
        s = self.settings
        w, h = bounded_size(width, height, s.transcode_max_width, s.transcode_max_height)
        fps = max(1, round(s.transcode_max_fps))
        enc = av.CodecContext.create("libx264", "w")
        enc.width = w
        enc.height = h
        enc.pix_fmt = "yuv420p"
        enc.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        enc.framerate = fractions.Fraction(fps, 1)
        enc.bit_rate = s.transcode_bitrate
        enc.gop_size = max(1, round(fps * s.transcode_gop_seconds))
        enc.max_b_frames = 0
        enc.thread_count = 1
        enc.profile = "Constrained Baseline"
        enc.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "level": "31",
            "bf": "0",
            "repeat-headers": "1",
            "x264-params": f"keyint={enc.gop_size}:min-keyint={enc.gop_size}:scenecut=0:bframes=0",
        }
        self._size = (width, height)
        self._out_size = (w, h)
        return enc

    def on_frame(self, frame: Any, ingest_time: float) -> None:
        t = float(frame.time) if frame.time is not None else time.monotonic()
        if not self.gate.allow(t):
            return
        if self._encoder is None or self._size != (frame.width, frame.height):
            self._encoder = self._open(frame.width, frame.height)
        w, h = self._out_size
        out = frame.reformat(width=w, height=h, format="yuv420p")
        out.pts = int(t * VIDEO_CLOCK)
        out.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        out.pict_type = av.video.frame.PictureType.NONE
        try:
            packets = self._encoder.encode(out)
        except Exception:
            self.errors += 1
            self._encoder = None
            raise
        generation = self.source.generation
        for p in packets:
            self.encoded += 1
            pts = int(p.pts) if p.pts is not None else out.pts
            self.source.post(
                self.source.publish_transcoded,
                bytes(p),
                pts,
                bool(p.is_keyframe),
                ingest_time,
                generation,
            )
