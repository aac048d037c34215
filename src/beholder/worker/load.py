"""The worker's load for its heartbeat: process CPU and detection-thread busy fraction over
the last window of at least one second."""

from __future__ import annotations

import time
from collections.abc import Callable

_MIN_WINDOW_S = 1.0


class LoadMeter:
    """Rates over windows of at least one second. ``busy_seconds``: total wall time the
    detection threads spent on jobs (growing); ``threads``: how many threads."""

    def __init__(self, busy_seconds: Callable[[], float], threads: int) -> None:
        self._busy = busy_seconds
        self._threads = max(1, threads)
        self._last = (time.monotonic(), time.process_time(), busy_seconds())
        self._rates = (0.0, 0.0)

    def read(self) -> tuple[float, float]:
        """``(cpu_percent, detector_load)``: this process's CPU time over wall time in % of
        one core, and the detection threads' busy fraction (0–1), over the time since the
        window began; a window shorter than a second (several heartbeats, pings) repeats
        the previous window's rates."""
        now, cpu, busy = time.monotonic(), time.process_time(), self._busy()
        last_now, last_cpu, last_busy = self._last
        wall = now - last_now
        if wall < _MIN_WINDOW_S:
            return self._rates
        self._last = (now, cpu, busy)
        cpu_percent = max(0.0, round(100.0 * (cpu - last_cpu) / wall, 1))
        load = min(1.0, max(0.0, (busy - last_busy) / (wall * self._threads)))
        self._rates = (cpu_percent, round(load, 3))
        return self._rates
