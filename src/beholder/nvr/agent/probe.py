"""Probing a channel's RTSP endpoint: ``OPTIONS`` then ``DESCRIBE`` with the URL's
credentials (:mod:`.rtsp`), each step bounded by ``timeout`` seconds.

A channel is **reachable** when DESCRIBE answers 200; the SDP gives codec and resolution
(:mod:`.sdp`). Otherwise :class:`ProbeError` says why, in the words of the agent socket's
``probe-report`` (``contracts/nvr.py``):

=============== =================================================================
``unauthorized`` 401 (after answering the challenge, or with no credentials) or 403
``not-found``    404 (no such stream / channel), 454
``refused``      the TCP connection is refused, or the host cannot be reached / resolved
``timeout``      connect or an answer took longer than ``timeout``
``protocol``     anything else: not RTSP, a redirect (never followed), 5xx, reset
=============== =================================================================

``latencyMs``: TCP connect plus the OPTIONS round trip, in milliseconds (a camera "ping").
:class:`Prober` runs many probes with at most ``concurrency`` in flight. Nothing here raises
for a bad channel, and no result or log line holds a credential.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import structlog

from beholder.nvr.agent.rtsp import RtspConnection, RtspProtocolError, Target
from beholder.nvr.agent.sdp import parse_sdp
from beholder.rtsp_url import mask_rtsp_url

log = structlog.get_logger(__name__)


class ProbeError(StrEnum):
    """Why a channel is unreachable (the wire values of ``probe-report``)."""

    UNAUTHORIZED = "unauthorized"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    NOT_FOUND = "not-found"
    PROTOCOL = "protocol"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe. ``status``: the last RTSP status code seen (``None`` if none);
    ``detail``: a short credential-free sentence for logs."""

    reachable: bool
    latency_ms: float | None = None
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    error: ProbeError | None = None
    status: int | None = None
    detail: str = ""


def _failure(status: int) -> ProbeError:
    if status in (401, 403):
        return ProbeError.UNAUTHORIZED
    if status in (404, 454):
        return ProbeError.NOT_FOUND
    return ProbeError.PROTOCOL


async def probe(url: str, timeout: float = 3.0) -> ProbeResult:
    """Probe ``url`` (see the module docstring). Never raises (but for cancellation)."""
    try:
        target = Target.of(url)
    except ValueError:
        return ProbeResult(False, error=ProbeError.PROTOCOL, detail="not an rtsp:// URL")
    conn = RtspConnection(target)
    step = "connect"
    try:
        t0 = time.perf_counter()
        async with asyncio.timeout(timeout):
            await conn.connect()
        step = "OPTIONS"
        async with asyncio.timeout(timeout):
            options = await conn.request("OPTIONS")
        latency = round((time.perf_counter() - t0) * 1000, 1)
        if options.status in (401, 403, 404, 454):
            return ProbeResult(
                False, latency, error=_failure(options.status), status=options.status,
                detail=f"OPTIONS answered {options.status}",
            )  # fmt: skip
        step = "DESCRIBE"
        async with asyncio.timeout(timeout):
            describe = await conn.request("DESCRIBE", {"Accept": "application/sdp"})
        if describe.status != 200:
            return ProbeResult(
                False, latency, error=_failure(describe.status), status=describe.status,
                detail=f"DESCRIBE answered {describe.status}",
            )  # fmt: skip
        info = parse_sdp(describe.body.decode("utf-8", "replace"))
        return ProbeResult(True, latency, info.codec, info.width, info.height, status=200)
    except TimeoutError:
        return ProbeResult(False, error=ProbeError.TIMEOUT, detail=f"{step} timed out")
    except ConnectionRefusedError:
        return ProbeResult(False, error=ProbeError.REFUSED, detail="connection refused")
    except RtspProtocolError as exc:
        return ProbeResult(False, error=ProbeError.PROTOCOL, detail=f"{step}: {exc}")
    except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError):
        return ProbeResult(False, error=ProbeError.PROTOCOL, detail=f"{step}: connection dropped")
    except (socket.gaierror, OSError) as exc:
        kind = ProbeError.REFUSED if step == "connect" else ProbeError.PROTOCOL
        reason = exc.strerror or type(exc).__name__
        return ProbeResult(False, error=kind, detail=f"{step}: {reason}")
    except Exception as exc:  # a bad channel never takes the agent down
        log.warning("probe failed", url=mask_rtsp_url(url), error=type(exc).__name__)
        return ProbeResult(False, error=ProbeError.PROTOCOL, detail=f"{step}: unexpected error")
    finally:
        await conn.close()


class Prober:
    """Probes many channels with at most ``concurrency`` at once, ``timeout`` s per step."""

    def __init__(self, timeout: float = 3.0, concurrency: int = 8) -> None:
        self.timeout = timeout
        self._slots = asyncio.Semaphore(concurrency)

    async def one(self, url: str) -> ProbeResult:
        """Probe one URL within the concurrency bound."""
        async with self._slots:
            return await probe(url, self.timeout)

    async def many(self, urls: Mapping[int, str]) -> dict[int, ProbeResult]:
        """``{channel number: result}`` for ``{channel number: url}``."""
        numbers = list(urls)
        results = await asyncio.gather(*(self.one(urls[n]) for n in numbers))
        return dict(zip(numbers, results, strict=True))
