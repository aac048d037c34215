"""Exception handlers: every error leaves the api in the one shape of DESIGN §6.

The technical detail is logged under the request's correlation id; the response carries
only the user-safe message.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from beholder.errors import AppError, ErrorCode, error_body, http_status

log = structlog.get_logger("beholder.errors")

_STATUS_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.INVALID_INPUT,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.PERMISSION_DENIED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.INVALID_INPUT,
    422: ErrorCode.INVALID_INPUT,
    429: ErrorCode.RATE_LIMIT_EXCEEDED,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}


def correlation_id(request: Request) -> str:
    """The correlation id the middleware assigned to this request."""
    cid = request.scope.get("state", {}).get("correlation_id")
    return str(cid) if cid else "unknown"


def error_response(
    request: Request,
    code: ErrorCode,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    status: int | None = None,
) -> JSONResponse:
    """A JSON response in the one error shape."""
    cid = correlation_id(request)
    return JSONResponse(
        error_body(code, message, cid, extra=extra),
        status_code=status or http_status(code),
        headers=headers,  # X-Correlation-ID is added by HttpMiddleware
    )


def _field_message(errors: list[Any]) -> str:
    # A short, human sentence about the first problem; the full list goes to the log.
    if not errors:
        return "The request is not valid."
    first = errors[0]
    loc = [str(p) for p in first.get("loc", []) if p not in ("body", "query", "path", "header")]
    where = ".".join(loc)
    msg = str(first.get("msg", "is not valid"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if first.get("type") == "json_invalid":
        return "The request body is not valid JSON."
    return f"{where}: {msg}" if where else msg


def install_error_handlers(app: FastAPI) -> None:
    """Register handlers for AppError, validation, HTTP errors, DB errors and the rest."""

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        log.info(
            "request failed",
            code=exc.code.value,
            detail=exc.detail,
            path=request.url.path,
        )
        return error_response(request, exc.code, exc.message, headers=exc.headers, extra=exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        log.info(
            "invalid input",
            errors=[{k: str(v) for k, v in e.items() if k != "input"} for e in errors],
        )
        return error_response(request, ErrorCode.INVALID_INPUT, _field_message(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, ErrorCode.INTERNAL_ERROR)
        if exc.status_code >= 500 and code is ErrorCode.INTERNAL_ERROR:
            log.error("http error", status=exc.status_code, detail=str(exc.detail))
        from beholder.errors import default_message

        return error_response(
            request,
            code,
            default_message(code),
            headers=dict(exc.headers or {}),
            status=exc.status_code if code is not ErrorCode.INTERNAL_ERROR else 500,
        )

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: Exception) -> JSONResponse:
        log.error("database error", error=repr(exc)[:2000])
        return error_response(request, ErrorCode.DATABASE_ERROR, "")

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return error_response(
            request, ErrorCode.INTERNAL_ERROR, "Something went wrong on our side. Please try again."
        )
