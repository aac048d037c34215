"""A stand-in for the worker's camera session: demux a file or an RTSP URL with PyAV in a
thread and drive :class:`~beholder.worker.stream.PacketSink`s (``on_stream_open`` with a
``StreamInfo``, ``on_packet`` with a ``RawPacket``, ``on_stream_closed``) the way the
session's ingest run does. Used by tests, benchmarks and for trying live view without a worker.

Files are paced at their own frame rate and looped with continuous timestamps (like a
camera); RTSP is read over TCP and reconnected with backoff when it fails.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import av

from beholder.rtsp_url import mask_rtsp_url, mask_text
from beholder.worker.stream import PacketSink, RawPacket, StreamInfo

log = logging.getLogger(__name__)


class PacketFeeder:
    """Demux ``url`` (path or ``rtsp://``) in a daemon thread and call ``sinks``.

    ``loop_file``: restart a file at its end (timestamps keep increasing). ``realtime``: pace
    file packets at their timestamps. ``max_backoff``: seconds between reconnect attempts."""

    def __init__(
        self,
        url: str,
        sinks: Sequence[PacketSink],
        *,
        loop_file: bool = True,
        realtime: bool = True,
        max_backoff: float = 2.0,
    ) -> None:
        self.url = url
        self.sinks = list(sinks)
        self.loop_file = loop_file
        self.realtime = realtime
        self.max_backoff = max_backoff
        self.packets = 0
        self.opens = 0
        self.failures = 0
        self.send_times: dict[int, float] = {}
        """Frame index → ``time.time()`` when handed to the sinks (last 2000 frames)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="egress-feeder", daemon=True)

    def start(self) -> PacketFeeder:
        self._thread.start()
        return self

    def stop(self, timeout: float = 3.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    @property
    def is_rtsp(self) -> bool:
        return self.url.startswith(("rtsp://", "rtsps://"))

    def _open(self) -> Any:
        if self.is_rtsp:
            return av.open(
                self.url,
                options={
                    "rtsp_transport": "tcp",
                    "timeout": "3000000",
                    "analyzeduration": "1000000",
                    "probesize": "500000",
                },
                timeout=(3.0, 3.0),
            )
        return av.open(self.url)

    def _run(self) -> None:
        backoff = 0.25
        while not self._stop.is_set():
            try:
                self._session()
                backoff = 0.25
            except Exception as exc:
                self.failures += 1
                log.info("feeder: %s failed: %s", mask_rtsp_url(self.url), mask_text(str(exc)))
            for s in self.sinks:
                s.on_stream_closed()
            if self._stop.is_set() or (not self.is_rtsp and not self.loop_file):
                return
            self._stop.wait(backoff)
            backoff = min(self.max_backoff, backoff * 2)

    def _session(self) -> None:
        container = self._open()
        try:
            stream = container.streams.video[0]
            self.opens += 1
            info = StreamInfo.from_stream(stream)
            for s in self.sinks:
                s.on_stream_open(info)
            tb = float(stream.time_base)
            offset = 0
            t0: float | None = None
            first_pts: int | None = None
            while not self._stop.is_set():
                last_pts = None
                for packet in container.demux(stream):
                    if self._stop.is_set():
                        return
                    if packet.size == 0:
                        continue
                    if packet.pts is not None:
                        packet.pts += offset
                        last_pts = packet.pts if last_pts is None else max(last_pts, packet.pts)
                    if packet.dts is not None:
                        packet.dts += offset
                    if self.realtime and not self.is_rtsp and packet.pts is not None:
                        if t0 is None or first_pts is None:
                            t0, first_pts = time.monotonic(), packet.pts
                        delay = t0 + (packet.pts - first_pts) * tb - time.monotonic()
                        if delay > 0:
                            self._stop.wait(delay)
                    now = time.time()
                    self.send_times[self.packets] = now
                    self.send_times.pop(self.packets - 2000, None)
                    self.packets += 1
                    raw = RawPacket.from_packet(packet, now)
                    for s in self.sinks:
                        s.on_packet(raw)
                if self.is_rtsp or not self.loop_file:
                    return
                container.seek(0)
                frame = int(1 / (tb * (info.fps or 25.0)))
                # the file restarts at pts 0: shift it so timestamps keep increasing
                offset = (last_pts if last_pts is not None else offset) + frame
        finally:
            container.close()
