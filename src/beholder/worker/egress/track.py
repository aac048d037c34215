"""The per-viewer aiortc track: hands already-encoded H.264 access units to aiortc as
``av.Packet`` objects, so aiortc packetizes them into RTP without decoding or encoding.

A :class:`CameraSource` pushes :class:`EncodedFrame` objects (Annex-B, 90 kHz timestamps) into
each viewer's :class:`PassthroughTrack` from the event loop; pushing never blocks and never
waits for the viewer. A viewer that falls :attr:`max_queue` frames behind is *slow*: its
queue is emptied and it resumes at the next keyframe (the camera never waits for it).
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from beholder.worker.stream import VIDEO_CLOCK

TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
PRIME_SPACING = 90
"""RTP ticks (1 ms) between the GOP-cache frames sent to a new viewer in one burst."""


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One H.264 access unit ready for a viewer.

    ``data``: Annex-B bytes (keyframes carry SPS/PPS). ``pts``: 90 kHz ticks on the camera's
    output timeline (monotonic across reconnects). ``ingest_time``: ``time.time()`` when the
    source packet reached egress (for latency figures)."""

    data: bytes
    pts: int
    keyframe: bool
    ingest_time: float


class PassthroughTrack(MediaStreamTrack):
    """A video track fed by :meth:`push` and drained by aiortc's RTP sender via :meth:`recv`.

    ``on_stop`` is called once when the track ends (viewer gone), to unsubscribe it."""

    kind = "video"

    alive: ClassVar[weakref.WeakSet[PassthroughTrack]] = weakref.WeakSet()
    """Every track not yet garbage-collected (for leak checks)."""

    def __init__(
        self, max_queue: int = 90, on_stop: Callable[[PassthroughTrack], None] | None = None
    ) -> None:
        super().__init__()
        self.max_queue = max(2, max_queue)
        self._queue: collections.deque[EncodedFrame] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._need_keyframe = True
        self._on_stop = on_stop
        self._last_pts: int | None = None
        self.frames_sent = 0
        self.frames_dropped = 0
        self.slow_events = 0
        self.first_frame_time: float | None = None
        self.last_send_time: float | None = None
        PassthroughTrack.alive.add(self)

    # --- producer side (event loop, never blocks) ---------------------------------------

    def prime(self, gop: Sequence[EncodedFrame]) -> None:
        """Queue the cached GOP (keyframe first) so the viewer can show the current picture at
        once. Timestamps are squeezed 1 ms apart, ending at the newest frame's, so the burst
        is decoded immediately and live frames follow at their real spacing."""
        if not gop or not gop[0].keyframe or self.readyState != "live":
            return
        self._queue.clear()
        last = gop[-1].pts
        n = len(gop)
        for i, f in enumerate(gop):
            self._queue.append(
                EncodedFrame(f.data, last - (n - 1 - i) * PRIME_SPACING, f.keyframe, f.ingest_time)
            )
        self._need_keyframe = False
        self._wake()

    def push(self, frame: EncodedFrame) -> None:
        """Queue a live frame; O(1). Drops non-keyframes until a keyframe when the viewer has
        none yet or is too far behind."""
        if self.readyState != "live":
            return
        if self._need_keyframe:
            if not frame.keyframe:
                self.frames_dropped += 1
                return
            self._need_keyframe = False
        if len(self._queue) >= self.max_queue:
            self.frames_dropped += len(self._queue) + (0 if frame.keyframe else 1)
            self._queue.clear()
            self.slow_events += 1
            if not frame.keyframe:
                self._need_keyframe = True
                return
        self._queue.append(frame)
        self._wake()

    def discontinuity(self) -> None:
        """The stream restarted (camera reconnect, mode switch): wait for a keyframe."""
        self._queue.clear()
        self._need_keyframe = True

    @property
    def queued(self) -> int:
        """Frames waiting to be sent."""
        return len(self._queue)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # --- consumer side (aiortc RTP sender) -----------------------------------------------

    async def recv(self) -> av.Packet[Any]:
        """Next access unit as an ``av.Packet`` (pts in 1/90000 s); raises
        ``MediaStreamError`` when the track has ended."""
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.readyState != "live":
            raise MediaStreamError
        frame = self._queue.popleft()
        pts = frame.pts
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # RTP timestamps never go backwards for the browser
        self._last_pts = pts
        packet = av.Packet(frame.data)
        packet.pts = pts
        packet.time_base = TIME_BASE
        now = time.monotonic()
        if self.first_frame_time is None:
            self.first_frame_time = now
        self.last_send_time = now
        self.frames_sent += 1
        return packet

    def stop(self) -> None:
        """End the track (idempotent): wakes the sender, drops the queue, unsubscribes."""
        if self.readyState == "live":
            super().stop()
            self._queue.clear()
            self._wake()
            cb, self._on_stop = self._on_stop, None
            if cb is not None:
                cb(self)
