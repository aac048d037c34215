"""RTSP ingest with PyAV: open a camera, classify failures, interrupt a blocked read.

Everything here is blocking and runs on a session's own ingest thread, never on the event loop.

* :func:`open_input` opens ``rtsp://`` over TCP with a short probe and open/read timeouts, after
  a plain TCP connect to the camera so that "refused / unreachable / timed out" are told apart
  from "reachable but not speaking RTSP" (FFmpeg folds several of those into one errno).
* :func:`classify_error` turns any exception into an :class:`IngestError` with an
  :class:`~beholder.errors.ErrorCode` and a user-safe detail (never the URL or its password).
* :class:`Interrupter` (a PyAV hook, in :mod:`beholder._compat.av`) makes a thread's blocked
  FFmpeg call return within ~0.1 s (stop).

What one connection does with the stream is :class:`~beholder.worker.ingest_run.IngestRun`;
what to decode is :class:`~beholder.worker.decode_policy.DecodePolicy`; the stream facts are
:mod:`beholder.worker.stream`.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import av
import av.container
import av.error

from beholder._compat.av import Interrupter as Interrupter  # re-exported: ingest threads use it
from beholder.errors import AppError, ErrorCode
from beholder.rtsp_url import mask_rtsp_url


class IngestError(AppError):
    """A failure of one camera's ingest (an :class:`~beholder.errors.AppError`).

    ``code``: what the api shows; ``message``: user-safe sentence (the status ``details``);
    ``detail``: technical, already masked (no password), for the structured log only;
    ``stall``: the stream stopped sending (reconnect without reporting ERROR);
    ``unreachable``: nothing answered a TCP connect (the camera or its network is down, not
    merely misconfigured).
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        detail: str = "",
        stall: bool = False,
        unreachable: bool = False,
    ) -> None:
        super().__init__(message, code=code, detail=detail or message)
        self.stall = stall
        self.unreachable = unreachable

    @property
    def log_detail(self) -> str:
        """The technical detail (never empty): what the log gets."""
        return self.detail or self.message


@dataclass(frozen=True, slots=True)
class IngestOptions:
    """Timeouts in seconds, probe sizes as FFmpeg wants them (values: :class:`WorkerSettings`)."""

    open_timeout: float
    read_timeout: float  # no packet for this long = stall
    analyzeduration_us: int
    probesize: int
    tcp_probe: bool = True

    @classmethod
    def from_settings(cls, settings: Any) -> IngestOptions:
        """From the worker settings: ``open_timeout``, ``stall_timeout`` (the read timeout),
        ``analyzeduration`` (seconds) and ``probesize``."""
        return cls(
            open_timeout=float(settings.open_timeout),
            read_timeout=float(settings.stall_timeout),
            analyzeduration_us=int(settings.analyzeduration * 1_000_000),
            probesize=int(settings.probesize),
        )


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
                detail=f"no decoder for stream codec of {mask_rtsp_url(url)}",
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
            detail=f"DNS lookup failed for {host}: {exc}",
            unreachable=True,
        ) from exc
    except ConnectionRefusedError as exc:
        raise IngestError(
            ErrorCode.NETWORK_ERROR,
            "The camera refused the connection (check the port).",
            detail=f"connection refused by {host}:{port}",
            unreachable=True,
        ) from exc
    except TimeoutError as exc:
        raise IngestError(
            ErrorCode.NETWORK_ERROR,
            "The camera did not answer in time.",
            detail=f"TCP connect to {host}:{port} timed out after {timeout}s",
            unreachable=True,
        ) from exc
    except OSError as exc:
        raise IngestError(
            ErrorCode.NETWORK_ERROR,
            "The camera could not be reached.",
            detail=f"TCP connect to {host}:{port} failed: {exc.strerror or exc}",
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
            detail=log_detail,
        )
    if isinstance(exc, av.error.HTTPNotFoundError):
        return IngestError(
            ErrorCode.INVALID_INPUT,
            "The camera has no stream at this address (check the path).",
            detail=log_detail,
        )
    if isinstance(exc, av.error.HTTPClientError):
        return IngestError(
            ErrorCode.INVALID_INPUT, "The camera rejected the request.", detail=log_detail
        )
    if isinstance(exc, av.error.HTTPServerError):
        return IngestError(
            ErrorCode.STREAM_UNAVAILABLE,
            "The camera reported an internal error.",
            detail=log_detail,
        )
    if isinstance(exc, av.error.ExitError | TimeoutError):
        # PyAV's interrupt callback fired: open or read timeout (a stall once streaming).
        if opening:
            return IngestError(
                ErrorCode.NETWORK_ERROR,
                "The camera did not answer in time.",
                detail=log_detail,
            )
        return IngestError(
            ErrorCode.NETWORK_ERROR,
            "The camera stopped sending video.",
            detail=log_detail,
            stall=True,
        )
    if isinstance(exc, av.error.DecoderNotFoundError | av.error.PatchWelcomeError):
        return IngestError(
            ErrorCode.STREAM_UNAVAILABLE,
            "The camera's video format is not supported.",
            detail=log_detail,
        )
    if isinstance(exc, av.error.InvalidDataError):
        if opening:
            return IngestError(
                ErrorCode.STREAM_UNAVAILABLE,
                "The camera did not send a valid RTSP stream.",
                detail=log_detail,
            )
        return IngestError(
            ErrorCode.DECODER_CRASH,
            "The camera stream could not be decoded.",
            detail=log_detail,
        )
    if isinstance(exc, ConnectionRefusedError):
        return IngestError(
            ErrorCode.NETWORK_ERROR,
            "The camera refused the connection (check the port).",
            detail=log_detail,
        )
    if isinstance(exc, OSError):
        err = exc.errno
        if err in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
            return IngestError(
                ErrorCode.NETWORK_ERROR, "The camera closed the connection.", detail=log_detail
            )
        if err in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT):
            return IngestError(
                ErrorCode.NETWORK_ERROR, "The camera could not be reached.", detail=log_detail
            )
        return IngestError(
            ErrorCode.NETWORK_ERROR,
            "The connection to the camera failed.",
            detail=log_detail,
        )
    if isinstance(exc, av.error.FFmpegError):
        return IngestError(
            ErrorCode.STREAM_UNAVAILABLE,
            "The camera stream could not be read.",
            detail=log_detail,
        )
    return IngestError(
        ErrorCode.DECODER_CRASH,
        "The camera stream could not be processed.",
        detail=log_detail,
    )


# --------------------------------------------------------------------------------------------
