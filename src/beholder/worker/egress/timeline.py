"""One monotonic output timeline per camera, whatever the camera's clock does."""

from __future__ import annotations

from beholder.worker.stream import VIDEO_CLOCK


class Timeline:
    """Maps input timestamps (90 kHz) onto one monotonic output timeline.

    A jump backwards or more than ``max_gap`` forward (reconnect, wrap, new encoder) re-bases
    so that the next frame follows the previous one by ``step`` ticks."""

    def __init__(self, max_gap: int = 10 * VIDEO_CLOCK) -> None:
        self.offset: int | None = None
        self.last_out: int | None = None
        self.step = VIDEO_CLOCK // 25
        self.max_gap = max_gap

    def map(self, ts: int) -> int:
        """Output timestamp (90 kHz ticks) of input ``ts``."""
        if self.offset is None:
            self.offset = (self.last_out + self.step - ts) if self.last_out is not None else -ts
        out = ts + self.offset
        if self.last_out is not None and not (0 < out - self.last_out <= self.max_gap):
            self.offset = self.last_out + self.step - ts
            out = ts + self.offset
        if self.last_out is not None and 0 < out - self.last_out < self.max_gap:
            self.step = max(1, min(out - self.last_out, VIDEO_CLOCK))
        self.last_out = out
        return out

    def rebase(self) -> None:
        """Next input timestamp continues the output timeline (new stream or encoder)."""
        self.offset = None

    def next_guess(self) -> int:
        """An input timestamp for a packet without one: one ``step`` after the last output."""
        return (self.last_out or 0) + self.step - (self.offset or 0)
