"""Error codes, the ``AppError`` hierarchy and the one error shape of DESIGN §6.

Every error that leaves the api is rendered by :func:`error_body`:
``{"error": {"code", "message", "severity", "correlationId"}}``. ``message`` is always
user-safe; the technical detail (``detail``) goes to the structured log only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable error codes (``FRAME_TOO_LARGE``/``INVALID_FRAME``: the mobile relay's video
    frames). The last three are internal: they never reach a client as such."""

    INVALID_INPUT = "INVALID_INPUT"
    UNAUTHORIZED = "UNAUTHORIZED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    FRAME_TOO_LARGE = "FRAME_TOO_LARGE"
    INVALID_FRAME = "INVALID_FRAME"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
    STREAM_UNAVAILABLE = "STREAM_UNAVAILABLE"
    NETWORK_ERROR = "NETWORK_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    # internal-only: mapped to SERVICE_UNAVAILABLE / INTERNAL_ERROR on the wire
    DATABASE_ERROR = "DATABASE_ERROR"
    BUS_ERROR = "BUS_ERROR"
    DECODER_CRASH = "DECODER_CRASH"


class Severity(StrEnum):
    """How bad an error is for the user; shown by the web app."""

    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


# code -> (HTTP status, default user-safe message, severity)
_CATALOGUE: dict[ErrorCode, tuple[int, str, Severity]] = {
    ErrorCode.INVALID_INPUT: (400, "The request is not valid.", Severity.WARNING),
    ErrorCode.UNAUTHORIZED: (401, "Sign in to continue.", Severity.WARNING),
    ErrorCode.PERMISSION_DENIED: (
        403,
        "You do not have permission to do this.",
        Severity.WARNING,
    ),
    ErrorCode.NOT_FOUND: (404, "Not found.", Severity.WARNING),
    ErrorCode.CONFLICT: (
        409,
        "This conflicts with something that already exists.",
        Severity.WARNING,
    ),
    ErrorCode.METHOD_NOT_ALLOWED: (405, "This method is not allowed here.", Severity.WARNING),
    ErrorCode.PAYLOAD_TOO_LARGE: (413, "The request is too large.", Severity.WARNING),
    ErrorCode.FRAME_TOO_LARGE: (413, "The video frame is too large.", Severity.WARNING),
    ErrorCode.INVALID_FRAME: (400, "The video frame is not valid.", Severity.WARNING),
    ErrorCode.RATE_LIMIT_EXCEEDED: (
        429,
        "Too many requests. Please wait a moment and try again.",
        Severity.WARNING,
    ),
    ErrorCode.STREAM_UNAVAILABLE: (
        503,
        "The camera stream is not available right now.",
        Severity.ERROR,
    ),
    ErrorCode.NETWORK_ERROR: (502, "The camera could not be reached.", Severity.ERROR),
    ErrorCode.SERVICE_UNAVAILABLE: (
        503,
        "The service is temporarily unavailable. Please try again shortly.",
        Severity.ERROR,
    ),
    ErrorCode.INTERNAL_ERROR: (
        500,
        "Something went wrong on our side. Please try again.",
        Severity.ERROR,
    ),
    ErrorCode.DATABASE_ERROR: (
        503,
        "The service is temporarily unavailable. Please try again shortly.",
        Severity.CRITICAL,
    ),
    ErrorCode.BUS_ERROR: (
        503,
        "The service is temporarily unavailable. Please try again shortly.",
        Severity.CRITICAL,
    ),
    ErrorCode.DECODER_CRASH: (
        503,
        "The camera stream could not be decoded.",
        Severity.ERROR,
    ),
}

_PUBLIC_CODE: dict[ErrorCode, ErrorCode] = {
    ErrorCode.DATABASE_ERROR: ErrorCode.SERVICE_UNAVAILABLE,
    ErrorCode.BUS_ERROR: ErrorCode.SERVICE_UNAVAILABLE,
    ErrorCode.DECODER_CRASH: ErrorCode.STREAM_UNAVAILABLE,
}


def http_status(code: ErrorCode) -> int:
    """HTTP status for an error code."""
    return _CATALOGUE[code][0]


def default_message(code: ErrorCode) -> str:
    """User-safe default message for an error code."""
    return _CATALOGUE[code][1]


def public_code(code: ErrorCode) -> ErrorCode:
    """The code a client may see (internal codes are folded into public ones)."""
    return _PUBLIC_CODE.get(code, code)


class AppError(Exception):
    """Base of every error Beholder raises on purpose.

    ``message`` is shown to users; ``detail`` is technical and only logged.
    ``extra`` is merged into the error object (e.g. per-service health detail).
    """

    code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(
        self,
        message: str | None = None,
        *,
        detail: str | None = None,
        code: ErrorCode | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        self.message = message or default_message(self.code)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(detail or self.message)

    @property
    def status_code(self) -> int:
        """HTTP status for this error."""
        return http_status(self.code)

    @classmethod
    def from_code(
        cls, code: str | None, message: str | None = None, *, detail: str | None = None
    ) -> AppError:
        """The error another role reported by its wire code (e.g. a worker's refusal on the
        bus: ``{"errorCode", "message"}``), ready to raise here.

        An unknown or missing code becomes ``INTERNAL_ERROR``; an internal error's message
        is never passed through (the default one is shown instead)."""
        try:
            error_code = ErrorCode(code) if code else ErrorCode.INTERNAL_ERROR
        except ValueError:
            error_code = ErrorCode.INTERNAL_ERROR
        if error_code is ErrorCode.INTERNAL_ERROR:
            message = None
        return cls(message, code=error_code, detail=detail)


class InvalidInput(AppError):
    code = ErrorCode.INVALID_INPUT


class Unauthorized(AppError):
    code = ErrorCode.UNAUTHORIZED

    def __init__(self, message: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kw)


class PermissionDenied(AppError):
    code = ErrorCode.PERMISSION_DENIED


class NotFound(AppError):
    code = ErrorCode.NOT_FOUND


class UnsafePath(NotFound):
    """A file name taken from data (a bus message, a DB row) would leave its folder.

    Answered like a missing file: the client learns nothing about the layout on disk; the
    name and folder go to ``detail`` (logged only)."""


class Conflict(AppError):
    code = ErrorCode.CONFLICT


class RateLimitExceeded(AppError):
    code = ErrorCode.RATE_LIMIT_EXCEEDED

    def __init__(self, retry_after: int, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": str(max(1, retry_after))})
        super().__init__(**kw)


class StreamUnavailable(AppError):
    code = ErrorCode.STREAM_UNAVAILABLE


class NetworkError(AppError):
    code = ErrorCode.NETWORK_ERROR


class ServiceUnavailable(AppError):
    code = ErrorCode.SERVICE_UNAVAILABLE


class DatabaseError(AppError):
    code = ErrorCode.DATABASE_ERROR


class BusError(AppError):
    code = ErrorCode.BUS_ERROR


class DecoderCrash(AppError):
    code = ErrorCode.DECODER_CRASH


def error_body(
    code: ErrorCode,
    message: str,
    correlation_id: str,
    *,
    severity: Severity | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The one error shape: ``{"error": {code, message, severity, correlationId, ...}}``.

    Internal codes are replaced by their public counterpart and message.
    """
    shown = public_code(code)
    if shown is not code:
        message = default_message(code)
    sev = severity or _CATALOGUE[code][2]
    body: dict[str, Any] = {
        "code": shown.value,
        "message": message,
        "severity": sev.value,
        "correlationId": correlation_id,
    }
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    return {"error": body}


class BackupRefused(Conflict):
    """``beholder restore`` will not write into this target (a data dir that is not empty, a
    PostgreSQL database that already has tables, or an archive of the other backend)."""


class ArchiveInvalid(InvalidInput):
    """A backup archive is unreadable, of an unknown format version, or fails a checksum."""


class BackupFailed(AppError):
    """A backup or restore step failed at run time (``pg_dump``/``pg_restore``, disk, I/O)."""
