"""A stand-in for the relay on the bus: :class:`FrameFeeder` publishes a stream's binary
relay frames on ``relay.frames.<streamId>`` at a steady rate, as the api does for a stream
with face detection on, and :func:`detection_command` asks workers to analyse a stream."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

from beholder.contracts.bus import StreamDetectionCommand
from beholder.contracts.relay_frame import encode_frame
from beholder.contracts.subjects import Subjects, relay_frames_subject


async def detection_command(bus: Any, stream_id: str, enabled: bool) -> None:
    """Publish ``StreamDetectionCommand(stream_id, enabled)`` on ``stream.detection``."""
    cmd = StreamDetectionCommand(stream_id=stream_id, enabled=enabled, device_name="test phone")
    await bus.publish(Subjects.STREAM_DETECTION, cmd.to_bytes())


class FrameFeeder:
    """Publishes ``frames`` (JPEG bytes, looped; or raw payloads with ``raw=True``) for
    ``stream_id`` at ``fps`` until :meth:`stop`. ``sent``: frames published so far.
    Swap what it sends with :meth:`play`."""

    def __init__(
        self, bus: Any, stream_id: str, frames: Sequence[bytes], fps: float = 15.0
    ) -> None:
        self.bus = bus
        self.stream_id = stream_id
        self.fps = fps
        self.sent = 0
        self._frames = list(frames)
        self._raw = False
        self._task: asyncio.Task[None] | None = None

    def play(self, frames: Sequence[bytes], raw: bool = False) -> None:
        """From the next frame on, send ``frames`` (``raw``: as they are, no header)."""
        self._frames, self._raw = list(frames), raw

    def start(self) -> FrameFeeder:
        self._task = asyncio.create_task(self._run(), name=f"feed:{self.stream_id}")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # CancelledError, or the bus closed under it (its test already ended)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        subject = relay_frames_subject(self.stream_id)
        i = 0
        while True:
            frames = self._frames
            data = frames[i % len(frames)]
            if not self._raw:
                data = encode_frame(self.stream_id, int(time.time() * 1000), data)
            await self.bus.publish(subject, data)
            self.sent += 1
            i += 1
            await asyncio.sleep(1.0 / self.fps)  # the phone's frame rate, not a wait
