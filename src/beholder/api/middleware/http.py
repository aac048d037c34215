"""Pure ASGI middleware for every HTTP request: correlation id, access log, metrics,
security headers, the answering instance (``X-Beholder-Instance``), request size limit and
per-IP rate limit.

Pure ASGI (not ``BaseHTTPMiddleware``) keeps streaming responses (MJPEG) and the hub's
WebSocket traffic off the per-request task machinery.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from beholder import tracing
from beholder.api.instance import HEADER, instance_id
from beholder.api.middleware.rate_limit import RateLimiter
from beholder.auth.audit import client_address_var
from beholder.errors import AppError, ErrorCode, default_message, error_body, http_status
from beholder.observability import HTTP_LATENCY, HTTP_REQUESTS, correlation_id_var

log = structlog.get_logger("beholder.access")

_INSTANCE_HEADER = HEADER.lower().encode()
_CID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Where the web app may fetch from: its own origin only. ``connect-src 'self'`` also covers
# the hub's ws:/wss: to the same host and port (CSP Level 3; Chromium, Firefox, Safari).
APP_CSP = (
    b"default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    b"connect-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    b"object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
# The API docs (Swagger UI from the package, :mod:`beholder.api.docs`): no inline script,
# nothing from another host. Swagger UI sets inline styles and uses data: icons.
DOCS_CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; "
    b"base-uri 'none'; form-action 'none'"
)
DOCS_PREFIX = "/api/docs"
HSTS = (b"strict-transport-security", b"max-age=31536000")
"""Sent only on requests that came over TLS (ASGI scope scheme ``https``): over plain HTTP
a browser ignores it, and a LAN install served over HTTP must stay reachable."""

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    # The web app's /publish page streams this device's camera (issue 10): the app's own
    # origin may ask for it, no embedded or other origin can; no microphone, no location.
    (b"permissions-policy", b"camera=(self), microphone=(), geolocation=()"),
]


def security_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The headers every HTTP response of ``scope`` carries: :data:`SECURITY_HEADERS`, the
    CSP (:data:`DOCS_CSP` under ``/api/docs``, else :data:`APP_CSP`) and HSTS over TLS."""
    path: str = scope.get("path", "")
    docs = path == DOCS_PREFIX or path.startswith(DOCS_PREFIX + "/")
    hdrs = [*SECURITY_HEADERS, (b"content-security-policy", DOCS_CSP if docs else APP_CSP)]
    if scope.get("scheme") == "https":
        hdrs.append(HSTS)
    return hdrs


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "<unmatched>"


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def send_error(
    send: Send, code: ErrorCode, cid: str, headers: dict[str, str] | None = None
) -> None:
    """Write a complete error response in the one shape (used before routing); ``send``
    is the middleware's wrapper, which adds the security headers."""
    body = json.dumps(error_body(code, default_message(code), cid)).encode()
    hdrs = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    hdrs += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": http_status(code), "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


class HttpMiddleware:
    """Correlation id in/out, one access-log line and metrics per request, security
    headers, ``max_bytes`` body limit (413) and the per-IP rate limit (429)."""

    def __init__(self, app: ASGIApp, max_bytes: int, limiter: RateLimiter | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw_cid = headers.get(b"x-correlation-id", b"").decode("latin-1")
        cid = raw_cid if _CID_RE.match(raw_cid) else str(uuid.uuid4())
        scope.setdefault("state", {})["correlation_id"] = cid
        token = correlation_id_var.set(cid)
        client_address_var.set(client_ip(scope))  # for audit rows; this request's context
        tracing.annotate("beholder.correlation_id", cid)  # find the trace by what users see
        start = time.perf_counter()
        # status, response started, 413 sent from receive (the app's own answer is dropped)
        status_holder = [500, 0, 0]
        path: str = scope.get("path", "")
        added = security_headers(scope)

        async def send_wrapper(message: Message) -> None:
            if status_holder[2]:
                return
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                status_holder[1] = 1
                hdrs = list(message.get("headers", []))
                hdrs.append((b"x-correlation-id", cid.encode()))
                hdrs.append((_INSTANCE_HEADER, instance_id().encode()))
                existing = {k.lower() for k, _ in hdrs}
                hdrs += [(k, v) for k, v in added if k not in existing]
                message = {**message, "headers": hdrs}
            await send(message)

        async def body_too_large() -> None:
            if not status_holder[1]:
                await send_error(
                    send_wrapper, ErrorCode.PAYLOAD_TOO_LARGE, cid, {"Connection": "close"}
                )
            status_holder[2] = 1

        try:
            length = headers.get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
                await send_error(
                    send_wrapper, ErrorCode.PAYLOAD_TOO_LARGE, cid, {"Connection": "close"}
                )
                return
            if self.limiter is not None and path.startswith("/api/"):
                try:
                    await self.limiter.check_ip(client_ip(scope))
                except AppError as exc:
                    await send_error(send_wrapper, exc.code, cid, exc.headers)
                    return
            await self.app(scope, self._limited_receive(receive, body_too_large), send_wrapper)
        except Exception:
            # Last line of defence: whatever escaped the routers becomes the one error shape.
            log.exception("unhandled error", path=path)
            if status_holder[1] == 0:
                await send_error(send_wrapper, ErrorCode.INTERNAL_ERROR, cid)
        finally:
            elapsed = time.perf_counter() - start
            route = _route_template(scope)
            method = scope.get("method", "GET")
            HTTP_REQUESTS.labels(method, route, str(status_holder[0])).inc()
            HTTP_LATENCY.labels(method, route).observe(elapsed)
            log.info(
                "request",
                method=method,
                route=route,
                path=path,
                status=status_holder[0],
                duration_ms=round(elapsed * 1000, 2),
                client=client_ip(scope),
            )
            correlation_id_var.reset(token)

    def _limited_receive(
        self, receive: Receive, too_large: Callable[[], Awaitable[None]]
    ) -> Receive:
        """``receive`` that counts body bytes (chunked bodies have no content-length).

        Past ``max_bytes`` it answers 413 itself (``too_large``) and tells the app the
        client went away: an exception raised here would reach the app's body parsing,
        which turns any failure into 400."""
        seen = 0
        limit = self.max_bytes

        async def wrapped() -> Message:
            nonlocal seen
            message: dict[str, Any] = dict(await receive())
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    await too_large()
                    return {"type": "http.disconnect"}
            return message

        return wrapped
