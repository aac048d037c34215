"""How a failed camera comes back: exponential backoff with jitter, and reachability probes.

While a session waits to reconnect, :class:`RetryWait` probes a camera that was unreachable
with a TCP connect every ``probe_interval`` s (jittered, at most ``probe_concurrency`` probes
in flight per worker); the moment it answers again the wait ends, so a camera that comes back
is streaming within seconds however long the outage and however long the backoff had grown.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import structlog

from beholder.worker.ingest import rtsp_endpoint
from beholder.worker.stats import SessionCounters

log = structlog.get_logger(__name__)


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Seconds to wait before attempt ``attempt + 1``: ``initial * 2**(attempt-1)``,
    ±25 % jitter (so cameras behind one flapping switch do not reconnect in lockstep),
    clamped to ``[initial, maximum]``."""
    base = min(maximum, initial * 2 ** max(0, attempt - 1))
    return float(min(maximum, max(initial, base * (0.75 + 0.5 * random.random()))))  # noqa: S311


async def tcp_answers(host: str, port: int, *, timeout: float) -> bool:
    """Whether a TCP connect to ``host:port`` succeeds within ``timeout`` s (DNS included).
    The connection is closed at once; nothing is sent."""
    try:
        async with asyncio.timeout(timeout):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True


class RetryWait:
    """The waits of one camera between two connection attempts.

    ``url``: the camera's RTSP URL (only host and port are used). ``probe_interval``:
    seconds between probes. ``probe_slots``: the worker's bound on probes in flight.
    ``counters``: ``probe_failures`` and ``early_reconnects`` are counted there."""

    def __init__(
        self,
        camera_id: str,
        url: str,
        *,
        probe_interval: float,
        probe_slots: asyncio.Semaphore,
        counters: SessionCounters,
    ) -> None:
        self.camera_id = camera_id
        self._host, self._port = rtsp_endpoint(url)
        self._interval = probe_interval
        self._slots = probe_slots
        self._counters = counters

    async def wait(self, delay: float, *, down: bool, stopped: asyncio.Event) -> None:
        """Wait ``delay`` s of backoff, or until ``stopped``, or until the camera answers again.

        Every ``probe_interval`` s (±25 % jitter) a TCP connect tries the camera's RTSP
        port. Returning early needs evidence that the camera was down and is back: a probe
        that failed (or ``down``: the last attempt found nothing listening) followed by one
        that succeeded. A camera that answers TCP but fails RTSP (wrong path or password)
        therefore keeps its full backoff instead of being hammered.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        interval = self._interval
        while not stopped.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            step = min(remaining, interval * (0.75 + 0.5 * random.random()))  # noqa: S311
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopped.wait(), step)
                return  # stopped
            if not self._host or deadline - loop.time() <= 0:
                continue
            async with self._slots:
                up = await tcp_answers(self._host, self._port, timeout=min(2.0, interval))
            if not up:
                self._counters.probe_failures += 1
                down = True
            elif down:
                log.info("camera answers again: reconnecting", camera_id=self.camera_id)
                self._counters.early_reconnects += 1
                return
