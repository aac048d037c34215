"""RTSP ingest with PyAV: open, classify failures, interrupt a blocked read, pick what to decode.

Everything here is blocking and runs on a session's own ingest thread, never on the event loop.

* :func:`open_input` opens ``rtsp://`` over TCP with a short probe and open/read timeouts, after
  a plain TCP connect to the camera so that "refused / unreachable / timed out" are told apart
  from "reachable but not speaking RTSP" (FFmpeg folds several of those into one errno).
* :func:`classify_error` turns any exception into an :class:`IngestError` with an
  :class:`~beholder.errors.ErrorCode` and a user-safe detail (never the URL or its password).
* :class:`Interrupter` (a PyAV hook, in :mod:`beholder._compat.av`) makes a thread's blocked
  FFmpeg call return within ~0.1 s (stop).
* :class:`DecodePolicy` decides, packet by packet, whether the decoder needs it.
* :func:`read_wallclock_sei` reads the optional wall-clock SEI stamp (latency measurement).
"""

from __future__ import annotations

import errno
import socket
import time
from collections import deque
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import av
import av.container
import av.error

from beholder._compat.av import Interrupter as Interrupter  # re-exported: ingest threads use it
from beholder.errors import ErrorCode
from beholder.rtsp_url import mask_rtsp_url

# 16-byte UUID of the "wall-clock when sent" SEI written by tests/fixtures/rtsp_server.py,
# followed by 16 ASCII hex digits of microseconds since the Unix epoch.
WALLCLOCK_SEI_UUID = b"BeholderWallClk!"
_SEI_SCAN_BYTES = 256  # the SEI sits before the first slice: after SPS/PPS at most


class IngestError(Exception):
    """A failure of one camera's ingest.

    ``code``: what the api shows; ``detail``: user-safe sentence; ``log_detail``: technical,
    already masked (no password), for the structured log only; ``stall``: the stream stopped
    sending (reconnect without reporting ERROR); ``unreachable``: nothing answered a TCP
    connect (the camera or its network is down, not merely misconfigured).
    """

    def __init__(
        self,
        code: ErrorCode,
        detail: str,
        *,
        log_detail: str = "",
        stall: bool = False,
        unreachable: bool = False,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.log_detail = log_detail or detail
        self.stall = stall
        self.unreachable = unreachable


@dataclass(frozen=True, slots=True)
class IngestOptions:
    """Timeouts in seconds, probe sizes as FFmpeg wants them."""

    open_timeout: float = 10.0
    read_timeout: float = 10.0  # no packet for this long = stall
    analyzeduration_us: int = 1_000_000
    probesize: int = 262_144
    tcp_probe: bool = True


# --------------------------------------------------------------------------------------------
# open


def open_input(url: str, opts: IngestOptions) -> tuple[av.container.InputContainer, Any]:
    """Open ``url`` and return ``(container, video_stream)``.

    Blocking (up to ``opts.open_timeout`` plus the TCP probe). Raises :class:`IngestError`
    with NETWORK_ERROR, UNAUTHORIZED, INVALID_INPUT or STREAM_UNAVAILABLE.
    """
    if urlsplit(url).scheme.lower() not in ("rtsp", "rtsps"):
        raise IngestError(ErrorCode.INVALID_INPUT, "The camera address must start with rtsp://.")
    if opts.tcp_probe:
        _tcp_probe(*rtsp_endpoint(url), min(opts.open_timeout, 5.0))
    options = {
        "rtsp_transport": "tcp",
        # FFmpeg >= 5 has only ``timeout`` for RTSP (socket I/O, microseconds); the old
        # ``stimeout`` is gone and ``timeout`` no longer means "listen".
        "timeout": str(int(opts.read_timeout * 1_000_000)),
        "analyzeduration": str(opts.analyzeduration_us),
        "probesize": str(opts.probesize),
        # Never let FFmpeg wait to reorder RTP packets over TCP: they arrive in order.
        "max_delay": "0",
        "fflags": "nobuffer",
    }
    try:
        container = av.open(url, options=options, timeout=(opts.open_timeout, opts.read_timeout))
    except Exception as exc:
        raise classify_error(exc, url, opening=True) from exc
    try:
        if not isinstance(container, av.container.InputContainer):  # pragma: no cover
            raise IngestError(ErrorCode.STREAM_UNAVAILABLE, "The camera stream could not be read.")
        if not container.streams.video:
            raise IngestError(ErrorCode.STREAM_UNAVAILABLE, "The camera stream has no video track.")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx is None or not ctx.name:
            raise IngestError(
                ErrorCode.STREAM_UNAVAILABLE,
                "The camera's video format is not supported.",
                log_detail=f"no decoder for stream codec of {mask_rtsp_url(url)}",
            )
        # One decoder thread per camera: 50 cameras x N threads would thrash two cores, and
        # frame threading adds a frame of latency per thread.
        ctx.thread_count = 1
        ctx.thread_type = "SLICE"
        return container, stream
    except BaseException:
        container.close()
        raise


def rtsp_endpoint(url: str) -> tuple[str, int]:
    """``(host, port)`` an ``rtsp://`` or ``rtsps://`` URL connects to (ports 554 / 322 by
    default). ``host`` is ``""`` when the URL has none."""
    parts = urlsplit(url)
    default = 322 if parts.scheme.lower() == "rtsps" else 554
    return parts.hostname or "", parts.port or default


def _tcp_probe(host: str, port: int, timeout: float) -> None:
    if not host:
        raise IngestError(ErrorCode.INVALID_INPUT, "The camera address has no host.")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except socket.gaierror as exc:
        raise IngestError(
            ErrorCode.NETWORK_ERROR,
            "The camera's host name could not be resolved.",
            log_detail=f"DNS lookup failed for {host}: {exc}",
            unreachable=True,
        ) from exc
    except ConnectionRefusedError as exc:
        raise IngestError(
            ErrorCode.NETWORK_ERROR,
            "The camera refused the connection (check the port).",
            log_detail=f"connection refused by {host}:{port}",
            unreachable=True,
        ) from exc
    except TimeoutError as exc:
        raise IngestError(
            ErrorCode.NETWORK_ERROR,
            "The camera did not answer in time.",
            log_detail=f"TCP connect to {host}:{port} timed out after {timeout}s",
            unreachable=True,
        ) from exc
    except OSError as exc:
        raise IngestError(
            ErrorCode.NETWORK_ERROR,
            "The camera could not be reached.",
            log_detail=f"TCP connect to {host}:{port} failed: {exc.strerror or exc}",
            unreachable=True,
        ) from exc


# --------------------------------------------------------------------------------------------
# errors


def classify_error(exc: BaseException, url: str, *, opening: bool = False) -> IngestError:
    """Map an exception from PyAV/FFmpeg/sockets to an :class:`IngestError`.

    The technical message is masked (FFmpeg puts the full URL, password included, in its
    messages) and kept for the log only.
    """
    if isinstance(exc, IngestError):
        return exc
    masked = mask_rtsp_url(url)
    text = str(exc).replace(url, masked)
    log_detail = f"{type(exc).__name__}: {text}"
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return IngestError(
            ErrorCode.UNAUTHORIZED,
            "The camera refused the user name or password.",
            log_detail=log_detail,
        )
    if isinstance(exc, av.error.HTTPNotFoundError):
        return IngestError(
            ErrorCode.INVALID_INPUT,
            "The camera has no stream at this address (check the path).",
            log_detail=log_detail,
        )
    if isinstance(exc, av.error.HTTPClientError):
        return IngestError(
            ErrorCode.INVALID_INPUT, "The camera rejected the request.", log_detail=log_detail
        )
    if isinstance(exc, av.error.HTTPServerError):
        return IngestError(
            ErrorCode.STREAM_UNAVAILABLE,
            "The camera reported an internal error.",
            log_detail=log_detail,
        )
    if isinstance(exc, av.error.ExitError | TimeoutError):
        # PyAV's interrupt callback fired: open or read timeout (a stall once streaming).
        if opening:
            return IngestError(
                ErrorCode.NETWORK_ERROR,
                "The camera did not answer in time.",
                log_detail=log_detail,
            )
        return IngestError(
            ErrorCode.NETWORK_ERROR,
            "The camera stopped sending video.",
            log_detail=log_detail,
            stall=True,
        )
    if isinstance(exc, av.error.DecoderNotFoundError | av.error.PatchWelcomeError):
        return IngestError(
            ErrorCode.STREAM_UNAVAILABLE,
            "The camera's video format is not supported.",
            log_detail=log_detail,
        )
    if isinstance(exc, av.error.InvalidDataError):
        if opening:
            return IngestError(
                ErrorCode.STREAM_UNAVAILABLE,
                "The camera did not send a valid RTSP stream.",
                log_detail=log_detail,
            )
        return IngestError(
            ErrorCode.DECODER_CRASH,
            "The camera stream could not be decoded.",
            log_detail=log_detail,
        )
    if isinstance(exc, ConnectionRefusedError):
        return IngestError(
            ErrorCode.NETWORK_ERROR,
            "The camera refused the connection (check the port).",
            log_detail=log_detail,
        )
    if isinstance(exc, OSError):
        err = exc.errno
        if err in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
            return IngestError(
                ErrorCode.NETWORK_ERROR, "The camera closed the connection.", log_detail=log_detail
            )
        if err in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT):
            return IngestError(
                ErrorCode.NETWORK_ERROR, "The camera could not be reached.", log_detail=log_detail
            )
        return IngestError(
            ErrorCode.NETWORK_ERROR,
            "The connection to the camera failed.",
            log_detail=log_detail,
        )
    if isinstance(exc, av.error.FFmpegError):
        return IngestError(
            ErrorCode.STREAM_UNAVAILABLE,
            "The camera stream could not be read.",
            log_detail=log_detail,
        )
    return IngestError(
        ErrorCode.DECODER_CRASH,
        "The camera stream could not be processed.",
        log_detail=log_detail,
    )


# --------------------------------------------------------------------------------------------
# what to decode


class DecodePolicy:
    """Decides which packets the decoder needs for sampling at ``sample_interval`` seconds.

    * ``keyframes``: no B-frames and the keyframe interval (GOP) is at most the sample
      interval: decode keyframes only; every keyframe is a sample candidate.
    * ``all``: otherwise (long GOP, B-frames, or GOP not learnt yet): decode every packet so
      that the decoder keeps its reference frames; only sampled frames are converted.

    The GOP is learnt from the stream (two consecutive keyframes) and re-checked on each
    keyframe, so a camera that changes its GOP is followed.
    """

    KEYFRAMES = "keyframes"
    ALL = "all"

    def __init__(self, sample_interval: float, *, b_frames: bool) -> None:
        self.sample_interval = sample_interval
        self.b_frames = b_frames
        self.gop_s: float | None = None
        self._gops: deque[float] = deque(maxlen=4)
        self._last_key_t: float | None = None
        self.mode = self.ALL
        self._need_key = False

    def observe(self, is_key: bool, t: float | None, pts_ne_dts: bool) -> None:
        """Feed one packet's keyframe flag, time (s, pts-based or arrival) and reorder hint."""
        if pts_ne_dts:
            self.b_frames = True
        if is_key and t is not None:
            if self._last_key_t is not None and t > self._last_key_t:
                self._gops.append(t - self._last_key_t)
                # The longest of the last few GOPs decides: one short GOP (an encoder's
                # scene-cut IDR, a looping source) must not switch to keyframes-only and
                # then miss samples for a whole long GOP.
                self.gop_s = max(self._gops)
            self._last_key_t = t
            self.mode = (
                self.KEYFRAMES
                if not self.b_frames
                and self.gop_s is not None
                and self.gop_s <= self.sample_interval * 1.05
                else self.ALL
            )

    def should_decode(self, is_key: bool) -> bool:
        """True if this packet must go through the decoder."""
        return is_key or self.mode == self.ALL


# --------------------------------------------------------------------------------------------
# helpers


def read_wallclock_sei(packet: av.Packet[Any]) -> float | None:
    """Wall-clock seconds stamped by the source in our SEI, or None (real cameras)."""
    try:
        head = bytes(memoryview(packet)[:_SEI_SCAN_BYTES])
    except (TypeError, ValueError):
        return None
    i = head.find(WALLCLOCK_SEI_UUID)
    if i < 0 or i + 32 > len(head):
        return None
    try:
        return int(head[i + 16 : i + 32], 16) / 1e6
    except ValueError:
        return None


def stream_info(stream: Any) -> SimpleNamespace:
    """Codec name, size and nominal fps of a PyAV video stream (None when unknown)."""
    ctx = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate or getattr(ctx, "framerate", None)
    fps = float(rate) if rate else None
    if fps is not None and not 0.1 <= fps <= 240:
        fps = None  # FFmpeg's 90 kHz "guess" on RTP without timing info is nonsense
    return SimpleNamespace(
        codec=ctx.name if ctx is not None else None,
        width=int(ctx.width) if ctx is not None and ctx.width else None,
        height=int(ctx.height) if ctx is not None and ctx.height else None,
        fps=fps,
        b_frames=bool(ctx is not None and ctx.has_b_frames),
    )


def now_wall() -> float:
    """Wall-clock seconds (Unix epoch)."""
    return time.time()
