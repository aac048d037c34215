"""One RTSP connection of one camera, on its own thread: demux, packet fan-out, decode, sample.

:class:`IngestRun` opens the camera with PyAV on a fresh ``ingest-<camera>`` thread, builds
the :class:`~beholder.worker.stream.StreamInfo` once, hands every packet to the camera's
:class:`~beholder.worker.fanout.PacketFanout` (live view), decodes what
:class:`~beholder.worker.decode_policy.DecodePolicy` says the decoder needs and hands one
frame per ``1 / sample_fps`` seconds to ``on_sample`` (detection, snapshot). ``await
run()`` returns when the stop event is set and raises :class:`~beholder.worker.ingest.
IngestError` when the connection fails; a run is used once. Nothing here touches the event
loop's state: ``on_open`` is called on the loop (``call_soon_threadsafe``), ``on_sample`` on
the ingest thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import av.error
import structlog

from beholder.camera_networks import NetworkPolicy
from beholder.errors import ErrorCode
from beholder.rtsp_url import mask_text
from beholder.worker import metrics
from beholder.worker.decode_policy import DecodePolicy
from beholder.worker.fanout import PacketFanout
from beholder.worker.ingest import (
    IngestError,
    IngestOptions,
    Interrupter,
    classify_error,
    open_input,
)
from beholder.worker.stats import SessionCounters
from beholder.worker.stream import RawPacket, StreamInfo, read_wallclock_sei

log = structlog.get_logger(__name__)

SampleHandler = Callable[[av.VideoFrame, float, float | None], None]
"""``(frame, sampled_at, source_ts)`` on the ingest thread: ``sampled_at`` monotonic
seconds, ``source_ts`` Unix seconds of the frame at its source (None: not stamped)."""


@dataclass
class IngestResources:
    """Threads and containers of one camera's runs (resource accounting, read by tests)."""

    threads_started: int = 0
    threads_alive: int = 0
    containers_open: int = 0


class IngestRun:
    """One connection (see the module docstring).

    ``stop``: set by the session to end the run (also aborts a blocked FFmpeg call).
    ``settings``: the worker settings (``sample_fps``, ``max_decode_errors``, timeouts).
    ``policy``: the networks the camera's address may resolve into (checked on open).
    """

    def __init__(
        self,
        camera_id: str,
        url: str,
        settings: Any,
        *,
        policy: NetworkPolicy,
        stop: threading.Event,
        counters: SessionCounters,
        fanout: PacketFanout,
        resources: IngestResources,
        on_open: Callable[[StreamInfo], None],
        on_sample: SampleHandler,
    ) -> None:
        self.camera_id = camera_id
        self.settings = settings
        self.decode_mode: str | None = None
        """``keyframes`` or ``all`` once packets flow (see :class:`DecodePolicy`)."""
        self._url = url
        self._policy = policy
        self._stop = stop
        self._counters = counters
        self._fanout = fanout
        self._resources = resources
        self._on_open = on_open
        self._on_sample = on_sample

    async def run(self) -> None:
        """Run the connection on its thread until stopped (returns) or failed (raises
        :class:`IngestError`)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[IngestError | None] = loop.create_future()
        thread = threading.Thread(
            target=self._main,
            args=(loop, done),
            name=f"ingest-{self.camera_id[:12]}",
            daemon=True,
        )
        res = self._resources
        res.threads_started += 1
        res.threads_alive += 1
        thread.start()
        try:
            error = await done
        finally:
            if done.done():
                # The thread resolves ``done`` as its very last action: this join takes
                # microseconds, so it may block the loop.
                thread.join(timeout=1.0)
            if not thread.is_alive():
                res.threads_alive -= 1
        if error is not None:
            raise error

    # ------------------------------------------------------------------ ingest thread
    def _main(
        self, loop: asyncio.AbstractEventLoop, done: asyncio.Future[IngestError | None]
    ) -> None:
        outcome: IngestError | None = None
        container: Any = None
        try:
            with Interrupter.watch(self._stop):
                if self._stop.is_set():
                    return
                container, stream = open_input(
                    self._url, IngestOptions.from_settings(self.settings), self._policy
                )
                self._resources.containers_open += 1
                if self._stop.is_set():
                    return
                info = StreamInfo.from_stream(stream)
                self._fanout.open(info)
                loop.call_soon_threadsafe(self._on_open, info)
                self._demux(container, stream, info)
        except BaseException as exc:  # report every failure, for this camera only
            if not self._stop.is_set():
                outcome = classify_error(exc, self._url, opening=container is None)
        finally:
            self._fanout.close()
            if container is not None:
                with contextlib.suppress(Exception):
                    container.close()
                self._resources.containers_open -= 1
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is waiting
                loop.call_soon_threadsafe(_resolve, done, outcome)

    def _demux(self, container: Any, stream: Any, info: StreamInfo) -> None:
        """Blocking demux/decode loop of one connection; returns on stop, raises on failure."""
        c = self._counters
        fanout = self._fanout
        interval = 1.0 / max(0.01, self.settings.sample_fps)
        tolerance = 0.25 * interval  # a frame slightly early still counts for its slot
        policy = DecodePolicy(interval, b_frames=info.has_b_frames)
        ctx = stream.codec_context
        tb = float(stream.time_base) if stream.time_base else 0.0
        max_errors = self.settings.max_decode_errors
        next_sample = 0.0
        consecutive_errors = 0
        decoded_any = False
        packets = container.demux(stream)
        try:
            for packet in packets:
                if self._stop.is_set():
                    return
                size = packet.size
                if size == 0:  # PyAV's flush packet after EOF
                    continue
                now = time.monotonic()
                c.packets += 1
                c.bytes_in += size
                if fanout.wanted:
                    fanout.packet(RawPacket.from_packet(packet, time.time()))
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
                    if consecutive_errors >= max_errors:
                        raise IngestError(
                            ErrorCode.DECODER_CRASH,
                            "The camera stream could not be decoded.",
                            detail=f"{consecutive_errors} consecutive decode errors; last: "
                            f"{type(exc).__name__}: {mask_text(str(exc))}",
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
                c.samples += 1
                self._on_sample(frames[-1], time.monotonic(), source_ts)
        finally:
            packets.close()  # frees its read buffer before the container is closed
        if not self._stop.is_set():
            # A live camera never ends: EOF means the connection dropped.
            raise IngestError(
                ErrorCode.NETWORK_ERROR,
                "The camera closed the connection.",
                detail=f"end of stream (decoded frames: {decoded_any})",
            )


def _resolve(fut: asyncio.Future[IngestError | None], value: IngestError | None) -> None:
    if not fut.done():
        fut.set_result(value)
