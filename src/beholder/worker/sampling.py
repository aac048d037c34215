"""The ingest-thread half of a camera session: demux, live-view packet fan-out, decode,
sampling at ``sample_fps`` and the hand-off of samples to detection.

:class:`IngestSampler` is a base class of :class:`beholder.worker.session.CameraSession`;
it holds no state of its own and works on the attributes it declares, which the session
sets up. Everything here runs on the session's ``ingest-<camera>`` thread (one connection at
a time); samples go to the camera's :class:`~beholder.worker.detect.scheduler.
CameraDetection` (motion gate, then the worker's shared detection queue); other events go
back to the event loop with ``loop.call_soon_threadsafe``. The loop side (status, backoff,
publishing) stays in :mod:`beholder.worker.session`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any, Protocol

import av
import av.error
import structlog

from beholder.config import WorkerSettings
from beholder.errors import ErrorCode
from beholder.messages import CameraSpec
from beholder.worker import metrics
from beholder.worker.detect.scheduler import CameraDetection
from beholder.worker.ingest import (
    DecodePolicy,
    IngestError,
    IngestOptions,
    Interrupter,
    classify_error,
    open_input,
    read_wallclock_sei,
    stream_info,
)
from beholder.worker.stats import SessionCounters

log = structlog.get_logger(__name__)


class PacketSink(Protocol):
    """Receives every demuxed video packet of a session (live-view egress).

    All three are called on the session's ingest thread; implementations must be
    thread-safe on their side, O(1) and never block.
    """

    def on_stream_open(self, stream: Any) -> None:
        """After each (re)connect, before that connection's first packet (VideoStream)."""

    def on_packet(self, packet: av.Packet[Any]) -> None:
        """Every video packet, keyframe or not."""

    def on_stream_closed(self) -> None:
        """On disconnect or stop."""


class IngestSampler:
    """Blocking ingest of one connection and the sampling of its frames for detection.

    A mixin: the attributes below are set by :class:`~beholder.worker.session.CameraSession`
    (see there for their meaning); ``_on_opened`` is its loop-side hook. ``_latest`` is a
    plain attribute (no lock) written by the ingest thread and read by the loop.
    """

    spec: CameraSpec
    camera_id: str
    settings: WorkerSettings
    counters: SessionCounters
    packet_sinks: list[PacketSink]
    face_detection_enabled: bool
    video_stream: Any
    containers_open: int
    decode_mode: str | None
    detection: CameraDetection | None
    _stopping: threading.Event
    _latest: tuple[av.VideoFrame, float] | None

    # ------------------------------------------------------------------ loop-side hooks
    def _on_opened(self, info: Any) -> None:
        """Called on the loop once a connection is open (``info``: ``ingest.stream_info``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ ingest thread
    def _ingest_thread(
        self, loop: asyncio.AbstractEventLoop, done: asyncio.Future[IngestError | None]
    ) -> None:
        outcome: IngestError | None = None
        container: Any = None
        opened: list[PacketSink] = []
        try:
            with Interrupter.watch(self._stopping):
                if self._stopping.is_set():
                    return
                options = IngestOptions.from_settings(self.settings)
                container, stream = open_input(self.spec.rtsp_url, options)
                self.containers_open += 1
                if self._stopping.is_set():
                    return
                info = stream_info(stream)
                self.video_stream = stream
                loop.call_soon_threadsafe(self._on_opened, info)
                self._demux(loop, container, stream, info, opened)
        except BaseException as exc:  # report every failure, for this camera only
            if not self._stopping.is_set():
                outcome = classify_error(exc, self.spec.rtsp_url, opening=container is None)
        finally:
            self.video_stream = None
            for sink in opened:
                try:
                    sink.on_stream_closed()
                except Exception:
                    log.exception("packet sink failed on close", camera_id=self.camera_id)
            if container is not None:
                with contextlib.suppress(Exception):
                    container.close()
                self.containers_open -= 1
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is waiting
                loop.call_soon_threadsafe(_resolve, done, outcome)

    def _demux(
        self,
        loop: asyncio.AbstractEventLoop,
        container: Any,
        stream: Any,
        info: Any,
        opened: list[PacketSink],
    ) -> None:
        """Blocking demux/decode loop of one connection; returns on stop, raises on failure."""
        c = self.counters
        interval = 1.0 / max(0.01, self.settings.sample_fps)
        tolerance = 0.25 * interval  # a frame slightly early still counts for its slot
        policy = DecodePolicy(interval, b_frames=info.b_frames)
        ctx = stream.codec_context
        tb = float(stream.time_base) if stream.time_base else 0.0
        next_sample = 0.0
        consecutive_errors = 0
        decoded_any = False
        packets = container.demux(stream)
        try:
            for packet in packets:
                if self._stopping.is_set():
                    return
                size = packet.size
                if size == 0:  # PyAV's flush packet after EOF
                    continue
                now = time.monotonic()
                c.packets += 1
                c.bytes_in += size
                if self.packet_sinks or opened:
                    self._feed_sinks(stream, packet, opened)
                is_key = bool(packet.is_keyframe)
                pts, dts = packet.pts, packet.dts
                policy.observe(
                    is_key,
                    pts * tb if pts is not None and tb else now,
                    pts is not None and dts is not None and pts != dts,
                )
                self.decode_mode = policy.mode
                if not policy.should_decode(is_key):
                    continue
                due = now >= next_sample - tolerance
                # Wall clock of the frame at its source: the stream's own stamp when it carries
                # one (the test camera's SEI), else when its packet reached us.
                source_ts = (read_wallclock_sei(packet) or time.time()) if due else None
                t0 = time.perf_counter()
                try:
                    frames = ctx.decode(packet)
                except (av.error.FFmpegError, ValueError) as exc:
                    c.decode_errors += 1
                    consecutive_errors += 1
                    if consecutive_errors >= self.settings.max_decode_errors:
                        raise IngestError(
                            ErrorCode.DECODER_CRASH,
                            "The camera stream could not be decoded.",
                            log_detail=f"{consecutive_errors} consecutive decode errors; last: "
                            f"{type(exc).__name__}: {exc}",
                        ) from exc
                    continue
                ms = (time.perf_counter() - t0) * 1000.0
                c.decode_ms.append(ms)
                metrics.DECODE_LATENCY.observe(ms / 1000.0)
                if not frames:
                    continue
                consecutive_errors = 0
                c.decoded += len(frames)
                decoded_any = True
                if now < next_sample - tolerance:
                    continue
                next_sample = (
                    next_sample + interval if now - next_sample < interval else now + interval
                )
                self._sample(frames[-1], source_ts)
        finally:
            packets.close()  # frees its read buffer before the container is closed
        if not self._stopping.is_set():
            # A live camera never ends: EOF means the connection dropped.
            raise IngestError(
                ErrorCode.NETWORK_ERROR,
                "The camera closed the connection.",
                log_detail=f"end of stream (decoded frames: {decoded_any})",
            )

    def _feed_sinks(self, stream: Any, packet: av.Packet[Any], opened: list[PacketSink]) -> None:
        sinks = self.packet_sinks
        # Sinks come and go from other threads; compare identities (cheap for a few sinks)
        # and open the ones attached mid-stream before their first packet.
        if len(sinks) != len(opened) or any(
            a is not b for a, b in zip(sinks, opened, strict=False)
        ):
            current = list(sinks)
            for sink in current:
                if not any(sink is o for o in opened):
                    try:
                        sink.on_stream_open(stream)
                    except Exception:
                        self.counters.sink_errors += 1
                        log.exception("packet sink failed on open", camera_id=self.camera_id)
            opened[:] = current
        for sink in opened:
            try:
                sink.on_packet(packet)
            except Exception:
                self.counters.sink_errors += 1
                if self.counters.sink_errors <= 5:
                    log.exception("packet sink failed", camera_id=self.camera_id)

    def _sample(self, frame: av.VideoFrame, source_ts: float | None) -> None:
        """A frame picked for detection/snapshot (ingest thread)."""
        self.counters.samples += 1
        now = time.monotonic()
        self._latest = (frame, now)
        detection = self.detection
        if detection is not None and self.face_detection_enabled:
            detection.offer(frame, now, source_ts)


def _resolve(fut: asyncio.Future[IngestError | None], value: IngestError | None) -> None:
    if not fut.done():
        fut.set_result(value)
