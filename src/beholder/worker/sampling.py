"""The ingest-thread half of a camera session: demux, live-view packet fan-out, decode,
sampling at ``sample_fps`` and the hand-off of samples to detection.

:class:`IngestSampler` is a base class of :class:`beholder.worker.session.CameraSession`;
it holds no state of its own and works on the attributes it declares, which the session
sets up. Everything here runs on the session's ``ingest-<camera>`` thread (one connection at
a time) or, for :meth:`IngestSampler._detect_job`, on the shared detection pool; results go
back to the event loop with ``loop.call_soon_threadsafe``. The loop side (status, backoff,
publishing) stays in :mod:`beholder.worker.session`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, Protocol

import av
import av.error
import structlog

from beholder.errors import ErrorCode
from beholder.messages import CameraSpec, FaceDetectionAlert
from beholder.worker import metrics
from beholder.worker.ingest import (
    DecodePolicy,
    IngestError,
    Interrupter,
    classify_error,
    open_input,
    read_wallclock_sei,
    stream_info,
)
from beholder.worker.settings import WorkerSettings
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


PipelineFactory = Callable[[str], Any]
"""camera_id -> object with ``process(frame_bgr, ts, source_ts=None)``, ``reset()``,
``last_detector_ms`` (a :class:`beholder.worker.detect.pipeline.DetectionPipeline`)."""


class IngestSampler:
    """Blocking ingest of one connection and the sampling of its frames for detection.

    A mixin: the attributes below are set by :class:`~beholder.worker.session.CameraSession`
    (see there for their meaning); ``_on_opened`` / ``_on_alert`` are its loop-side hooks.
    Threading: ``_latest``, ``_pipeline``, ``_reset_pipeline`` and ``_detect_busy`` are
    plain attributes (no lock) shared by the ingest thread, the detection job and the loop;
    ``_detect_busy`` keeps it to one detection job per camera at a time.
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
    _executor: Executor
    _pipeline_factory: PipelineFactory | None
    _pipeline: Any
    _reset_pipeline: bool
    _detect_busy: bool
    _stopping: threading.Event
    _latest: tuple[av.VideoFrame, float] | None

    # ------------------------------------------------------------------ loop-side hooks
    def _on_opened(self, info: Any) -> None:
        """Called on the loop once a connection is open (``info``: ``ingest.stream_info``)."""
        raise NotImplementedError

    def _on_alert(self, alert: FaceDetectionAlert) -> None:
        """Called on the loop with each alert a detection job produced."""
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
                container, stream = open_input(self.spec.rtsp_url, self.settings.ingest_options())
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
                self._sample(loop, frames[-1], source_ts)
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

    def _sample(
        self, loop: asyncio.AbstractEventLoop, frame: av.VideoFrame, source_ts: float | None
    ) -> None:
        """A frame picked for detection/snapshot (ingest thread)."""
        c = self.counters
        c.samples += 1
        self._latest = (frame, time.monotonic())
        if not self.face_detection_enabled or self._pipeline_factory is None:
            return
        if self._detect_busy:
            c.dropped_samples += 1
            metrics.DROPPED_SAMPLES.labels(self.camera_id).inc()
            return
        self._detect_busy = True
        try:
            self._executor.submit(self._detect_job, loop, frame, time.monotonic(), source_ts)
        except RuntimeError:  # pool shut down: the worker is stopping
            self._detect_busy = False

    def _detect_job(
        self,
        loop: asyncio.AbstractEventLoop,
        frame: av.VideoFrame,
        ts: float,
        source_ts: float | None,
    ) -> None:
        """Detection on the shared pool: convert, detect, track; post an alert to the loop.

        ``ts``: monotonic seconds when sampled (tracker and cooldown clock); ``source_ts``:
        Unix seconds of the frame at its source (copied into the alert for latency).
        """
        try:
            if self._stopping.is_set() or not self.face_detection_enabled:
                return
            if self._pipeline is None:
                assert self._pipeline_factory is not None
                self._pipeline = self._pipeline_factory(self.camera_id)
            pipeline = self._pipeline
            if self._reset_pipeline:
                self._reset_pipeline = False
                pipeline.reset()
            t0 = time.perf_counter()
            img = frame.to_ndarray(format="bgr24")
            alert = pipeline.process(img, ts, source_ts=source_ts)
            elapsed = time.perf_counter() - t0
            detector_ms = getattr(pipeline, "last_detector_ms", None)
            self.counters.detections += 1
            self.counters.detector_ms.append(
                float(detector_ms) if detector_ms is not None else elapsed * 1000.0
            )
            metrics.DETECTOR_LATENCY.observe(elapsed)
            if alert is not None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._on_alert, alert)
        except Exception:
            log.exception("face detection failed", camera_id=self.camera_id)
        finally:
            self._detect_busy = False


def _resolve(fut: asyncio.Future[IngestError | None], value: IngestError | None) -> None:
    if not fut.done():
        fut.set_result(value)
