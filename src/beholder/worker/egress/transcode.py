"""Transcoding for browsers that cannot take a camera's stream as-is (B-frames, another
codec): H.264 Constrained Baseline via libx264 (``ultrafast``, ``zerolatency``, no B-frames),
at most ``transcode_max_width``x``transcode_max_height`` and ``transcode_max_fps``, a keyframe
every ``transcode_gop_seconds``.

:class:`TranscodeEncoder` is a consumer of the camera's
:class:`~beholder.worker.egress.decode.DecodePipeline`; it hands each encoded access unit to
its ``publish`` callable (the camera source fans it out exactly like passthrough, so one
encode serves every viewer).
"""

from __future__ import annotations

import fractions
import time
from collections.abc import Callable
from typing import Any

import av

from beholder.config import LiveViewSettings
from beholder.worker.egress.decode import RateGate, bounded_size
from beholder.worker.stream import VIDEO_CLOCK

EncodedPublisher = Callable[[bytes, int, bool, float], None]
"""``(access_unit, pts_90khz, keyframe, ingest_time)``, called on the decode thread; must not
block (post to the loop)."""


class TranscodeEncoder:
    """H.264 Constrained Baseline encoder fed by a ``DecodePipeline`` (decode thread); each
    encoded access unit goes to ``publish``."""

    def __init__(self, settings: LiveViewSettings, publish: EncodedPublisher) -> None:
        self.publish = publish
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
        for p in packets:
            self.encoded += 1
            pts = int(p.pts) if p.pts is not None else out.pts
            self.publish(bytes(p), pts, bool(p.is_keyframe), ingest_time)
