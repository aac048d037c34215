"""MJPEG fallback, worker side: one JPEG encoder per camera while any client watches.

The api asks for a camera's MJPEG stream with a keep-alive request every
``mjpeg_keepalive`` s (``egress.mjpeg.keepalive.<cam>``, see
:mod:`~beholder.contracts.live`); the worker then attaches an :class:`MjpegEncoder`
to the camera's :class:`~beholder.worker.egress.transcode.DecodePipeline` and publishes each
JPEG (at most ``mjpeg_max_fps`` per second, at most ``mjpeg_max_width`` pixels wide) on
``egress.mjpeg.<cam>``. Every api instance fans the frames out to its HTTP clients, so the
camera is encoded once however many clients watch. Without keep-alive for
``mjpeg_idle_timeout`` s the encoder is detached and decoding stops.
"""

from __future__ import annotations

import fractions
import logging
import time
from collections.abc import Callable
from typing import Any

import av

from beholder.worker.egress.settings import EgressSettings
from beholder.worker.egress.transcode import RateGate, bounded_size

log = logging.getLogger(__name__)

JpegCallback = Callable[[bytes, int, int, float], None]
"""(jpeg, width, height, ingest_time) — called in the decode thread; must not block."""


class MjpegEncoder:
    """Decoded frames → JPEG at a bounded rate and size (a ``FrameConsumer``)."""

    def __init__(self, camera_id: str, settings: EgressSettings, emit: JpegCallback) -> None:
        self.camera_id = camera_id
        self.settings = settings
        self.emit = emit
        self.gate = RateGate(settings.mjpeg_max_fps)
        self.last_keepalive = time.monotonic()
        self.clients = 0
        self.encoded = 0
        self.errors = 0
        self._encoder: Any = None
        self._key: tuple[int, int] | None = None
        self._pts = 0

    def on_reset(self) -> None:
        self._encoder = None
        self._key = None
        self.gate = RateGate(self.settings.mjpeg_max_fps)

    def _open(self, width: int, height: int) -> Any:
        w, h = bounded_size(width, height, self.settings.mjpeg_max_width, 10_000)
        enc = av.CodecContext.create("mjpeg", "w")
        enc.width = w
        enc.height = h
        enc.pix_fmt = "yuvj420p"
        enc.time_base = fractions.Fraction(1, 1000)
        q = str(max(2, min(31, self.settings.mjpeg_quality)))
        enc.options = {"qmin": q, "qmax": q}
        self._key = (width, height)
        return enc

    def on_frame(self, frame: Any, ingest_time: float) -> None:
        t = float(frame.time) if frame.time is not None else time.monotonic()
        if not self.gate.allow(t):
            return
        if self._encoder is None or self._key != (frame.width, frame.height):
            self._encoder = self._open(frame.width, frame.height)
        enc = self._encoder
        img = frame.reformat(width=enc.width, height=enc.height, format="yuvj420p")
        self._pts += 1
        img.pts = self._pts
        img.time_base = enc.time_base  # else PyAV rescales the counter from the decoder's clock
        img.pict_type = av.video.frame.PictureType.NONE  # a P/B label makes mjpeg refuse it
        try:
            packets = enc.encode(img)
        except Exception:
            self.errors += 1
            self._encoder = None
            raise
        for p in packets:
            self.encoded += 1
            self.emit(bytes(p), enc.width, enc.height, ingest_time)
