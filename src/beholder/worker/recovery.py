"""How a failed camera comes back: exponential backoff with jitter, and reachability probes.

While a session waits to reconnect, :class:`RetryWait` probes a camera that was unreachable
with a TCP connect every ``probe_interval`` s (jittered, at most ``probe_concurrency`` probes
in flight per worker); the moment it answers again the wait ends, so a camera that comes back
is streaming within seconds however long the outage and however long the backoff had grown.
A probe resolves and checks the camera's host like every connection of the worker
(:mod:`beholder.camera_networks`) and connects only to the checked address: a camera whose
name resolves outside ``BEHOLDER_CAMERA_NETWORKS`` is never probed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import structlog

from beholder.camera_networks import AddressRefused, NetworkPolicy, resolve_camera_async
from beholder.worker.stats import SessionCounters

log = structlog.get_logger(__name__)


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    """Seconds to wait before attempt ``attempt + 1``: ``initial * 2**(attempt-1)``,
    ±25 % jitter (so cameras behind one flapping switch do not reconnect in lockstep),
    clamped to ``[initial, maximum]``."""
    base = min(maximum, initial * 2 ** max(0, attempt - 1))
    return float(min(maximum, max(initial, base * (0.75 + 0.5 * random.random()))))  # noqa: S311


async def camera_answers(url: str, policy: NetworkPolicy, *, timeout: float) -> bool:
    """Whether a TCP connect to the camera of ``url`` succeeds within ``timeout`` s (DNS
    included). The host is resolved and checked against ``policy`` first: an address outside
    it is never connected to (False). The connection is closed at once; nothing is sent."""
    try:
        async with asyncio.timeout(timeout):
            target = await resolve_camera_async(url, policy)
            _reader, writer = await asyncio.open_connection(target.address, target.port)
    except AddressRefused:
        return False
    except (OSError, TimeoutError, ValueError):
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True


class RetryWait:
    """The waits of one camera between two connection attempts.

    ``url``: the camera's RTSP URL (only host and port are used); ``policy``: the networks
    it may connect to (``BEHOLDER_CAMERA_NETWORKS``). ``probe_interval``:
    seconds between probes. ``probe_slots``: the worker's bound on probes in flight.
    ``counters``: ``probe_failures`` and ``early_reconnects`` are counted there."""

    def __init__(
        self,
        camera_id: str,
        url: str,
        *,
        policy: NetworkPolicy,
        probe_interval: float,
        probe_slots: asyncio.Semaphore,
        counters: SessionCounters,
    ) -> None:
        self.camera_id = camera_id
        self._url = url
        self._policy = policy
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
                async with asyncio.timeout(step):
                    await stopped.wait()
                return  # stopped
            if deadline - loop.time() <= 0:
                continue
            async with self._slots:
                up = await camera_answers(self._url, self._policy, timeout=min(2.0, interval))
            if not up:
                self._counters.probe_failures += 1
                down = True
            elif down:
                log.info("camera answers again: reconnecting", camera_id=self.camera_id)
                self._counters.early_reconnects += 1
                return
