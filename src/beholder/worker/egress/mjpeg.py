"""MJPEG fallback, worker side: one JPEG encoder per camera while any client watches
(:class:`MjpegEncoder`), and their frames published on the bus (:class:`MjpegFeeds`).

The api asks for a camera's MJPEG stream with a keep-alive request every
``mjpeg_keepalive`` s (``egress.mjpeg.keepalive.<cam>``, see
:mod:`~beholder.contracts.live`); the worker then attaches an :class:`MjpegEncoder`
to the camera's :class:`~beholder.worker.egress.decode.DecodePipeline` and publishes each
JPEG (at most ``mjpeg_max_fps`` per second, at most ``mjpeg_max_width`` pixels wide) on
``egress.mjpeg.<cam>``. Every api instance fans the frames out to its HTTP clients, so the
camera is encoded once however many clients watch. Without keep-alive for
``mjpeg_idle_timeout`` s the encoder is detached and decoding stops.
"""

from __future__ import annotations

import fractions
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import av

from beholder.bus.base import Bus
from beholder.config import LiveViewSettings
from beholder.contracts.live import MjpegKeepAlive, MjpegReply
from beholder.contracts.subjects import mjpeg_subject
from beholder.errors import ErrorCode
from beholder.worker.egress.decode import RateGate, bounded_size
from beholder.worker.egress.errors import EgressRefused
from beholder.worker.egress.source import CameraSource

log = logging.getLogger(__name__)

JpegCallback = Callable[[bytes, int, int, float], None]
"""(jpeg, width, height, ingest_time) — called in the decode thread; must not block."""


class MjpegEncoder:
    """Decoded frames → JPEG at a bounded rate and size (a ``FrameConsumer``)."""

    def __init__(self, camera_id: str, settings: LiveViewSettings, emit: JpegCallback) -> None:
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


class MjpegFeeds:
    """The MJPEG encoders of a worker's cameras and the publication of their frames.

    One encoder per camera while any api instance keeps it alive (:meth:`keepalive`); its
    JPEGs go to ``egress.mjpeg.<cam>`` on ``bus`` (``None``: not published), at most one
    publish in flight per camera (a frame that finds one in flight is dropped). Reads the
    hub's camera ``sources``; ``spawn(coro, name)`` runs a task the hub tracks. Loop only."""

    def __init__(
        self,
        bus: Bus | None,
        settings: LiveViewSettings,
        sources: Mapping[str, CameraSource],
        *,
        spawn: Callable[[Awaitable[Any], str], object],
    ) -> None:
        self.bus = bus
        self.settings = settings
        self.sources = sources
        self.encoders: dict[str, MjpegEncoder] = {}
        self.errors = 0
        self._spawn = spawn
        self._inflight: set[str] = set()

    def keepalive(self, req: MjpegKeepAlive) -> MjpegReply:
        """Start or keep the camera's encoder. Raises :class:`EgressRefused`
        ``STREAM_UNAVAILABLE`` when the camera produces nothing to encode."""
        camera_id = req.camera_id
        source = self.sources.get(camera_id)
        if source is None or not source.producing:
            raise EgressRefused(
                ErrorCode.STREAM_UNAVAILABLE, "The camera stream is not available right now."
            )
        enc = self.encoders.get(camera_id)
        if enc is None:
            enc = MjpegEncoder(
                camera_id,
                self.settings,
                lambda jpeg, w, h, ts: source.post(self._publish, camera_id, jpeg, w, h, ts),
            )
            if not source.add_frame_consumer(enc):
                raise EgressRefused(
                    ErrorCode.STREAM_UNAVAILABLE, "The camera stream is not available right now."
                )
            self.encoders[camera_id] = enc
            log.info("egress: MJPEG encoder started for camera %s", camera_id)
        enc.last_keepalive = time.monotonic()
        enc.clients = req.clients
        return MjpegReply(
            ok=True, subject=mjpeg_subject(camera_id), max_fps=self.settings.mjpeg_max_fps
        )

    def sweep(self) -> None:
        """Stop the encoders whose keep-alive is older than ``mjpeg_idle_timeout``."""
        now = time.monotonic()
        for camera_id, enc in list(self.encoders.items()):
            if now - enc.last_keepalive > self.settings.mjpeg_idle_timeout:
                self.stop(camera_id)

    def stop(self, camera_id: str) -> None:
        """Stop the camera's encoder, if any (decoding stops when nothing else needs it)."""
        enc = self.encoders.pop(camera_id, None)
        source = self.sources.get(camera_id)
        if enc is not None:
            if source is not None:
                source.remove_frame_consumer(enc)
            log.info("egress: MJPEG encoder stopped for camera %s", camera_id)

    def _publish(self, camera_id: str, jpeg: bytes, w: int, h: int, ts: float) -> None:
        bus = self.bus
        if bus is None or camera_id in self._inflight or camera_id not in self.encoders:
            return  # the previous frame is still being published: drop this one
        self._inflight.add(camera_id)
        headers = {"ts": f"{ts:.3f}", "w": str(w), "h": str(h)}

        async def publish() -> None:
            try:
                await bus.publish(mjpeg_subject(camera_id), jpeg, headers)
            except Exception:
                self.errors += 1
            finally:
                self._inflight.discard(camera_id)

        self._spawn(publish(), "egress-mjpeg-publish")
