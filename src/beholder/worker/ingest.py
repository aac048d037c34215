"""RTSP ingest with PyAV: open a camera, classify failures, interrupt a blocked read.

Everything here is blocking and runs on a session's own ingest thread, never on the event loop.

* :func:`connect_target` resolves the camera's host and checks every address against
  ``BEHOLDER_CAMERA_NETWORKS`` (:mod:`beholder.camera_networks`): the one function every
  connection of the worker to a camera goes through; what it returns names the checked IP,
  so FFmpeg never resolves the name again (no DNS rebinding between check and connect).
* :func:`open_input` opens ``rtsp://`` over TCP with a short probe and open/read timeouts, after
  a plain TCP connect to the camera so that "refused / unreachable / timed out" are told apart
  from "reachable but not speaking RTSP" (FFmpeg folds several of those into one errno); an
  RTSP redirect out of the allowed networks is refused (:mod:`beholder.worker.redirects`).
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
from beholder.camera_networks import (
    AddressRefused,
    CameraTarget,
    NetworkPolicy,
    resolve_camera,
)
from beholder.camera_networks import endpoint as rtsp_endpoint
from beholder.errors import AppError, ErrorCode
from beholder.rtsp_url import mask_rtsp_url, mask_text
from beholder.worker.redirects import RedirectGuard

REFUSED_MESSAGE = "The camera's address is in a network this server does not connect to"


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


def refused_error(reason: str) -> IngestError:
    """The :class:`IngestError` (PERMISSION_DENIED) of an address outside the allowed
    networks; ``reason`` (an address, never a port or a credential) is for operators."""
    return IngestError(
        ErrorCode.PERMISSION_DENIED,
        f"{REFUSED_MESSAGE}: {reason}.",
        detail=f"camera address refused: {reason}",
    )


def connect_target(url: str, policy: NetworkPolicy) -> CameraTarget:
    """Resolve ``url``'s host (blocking) and check every address against ``policy``.

    Returns the :class:`~beholder.camera_networks.CameraTarget` to connect to (its ``url``
    names the checked IP). Raises :class:`IngestError`: PERMISSION_DENIED when an address is
    refused (nothing was connected), NETWORK_ERROR when the name does not resolve,
    INVALID_INPUT when the URL has no host."""
    try:
        return resolve_camera(url, policy)
    except AddressRefused as exc:
        raise refused_error(str(exc)) from exc
    except socket.gaierror as exc:
        host = rtsp_endpoint(url)[0]
        raise IngestError(
            ErrorCode.NETWORK_ERROR,
            "The camera's host name could not be resolved.",
            detail=f"DNS lookup failed for {host}: {exc}",
            unreachable=True,
        ) from exc
    except (ValueError, OSError) as exc:
        raise IngestError(
            ErrorCode.INVALID_INPUT, "The camera address has no usable host.", detail=str(exc)
        ) from exc


def open_input(
    url: str, opts: IngestOptions, policy: NetworkPolicy
) -> tuple[av.container.InputContainer, Any]:
    """Open ``url`` and return ``(container, video_stream)``.

    The host is resolved and checked first (:func:`connect_target`), and FFmpeg connects to
    the checked address; a redirect out of ``policy`` is refused. Blocking (up to
    ``opts.open_timeout`` plus the TCP probe). Raises :class:`IngestError` with
    PERMISSION_DENIED, NETWORK_ERROR, UNAUTHORIZED, INVALID_INPUT or STREAM_UNAVAILABLE.
    """
    if urlsplit(url).scheme.lower() not in ("rtsp", "rtsps"):
        raise IngestError(ErrorCode.INVALID_INPUT, "The camera address must start with rtsp://.")
    target = connect_target(url, policy)
    if opts.tcp_probe:
        _tcp_probe(target.address, target.port, min(opts.open_timeout, 5.0))
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
    with RedirectGuard.watch(policy) as redirects:
        try:
            container = av.open(
                target.url, options=options, timeout=(opts.open_timeout, opts.read_timeout)
            )
        except Exception as exc:
            if redirects.refused is not None:
                raise refused_error(redirects.refused) from exc
            raise classify_error(exc, url, opening=True) from exc
    if redirects.refused is not None:  # pragma: no cover - FFmpeg failed the open above
        container.close()
        raise refused_error(redirects.refused)
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


def _tcp_probe(host: str, port: int, timeout: float) -> None:
    # ``host`` is the checked IP literal (connect_target): no resolution happens here.
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
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
    # The exception may name the URL as written or as connected (the checked IP): mask every
    # URL in it, and its password-like query parameters.
    text = mask_text(str(exc).replace(url, mask_rtsp_url(url)))
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
