"""``/api/client-errors``: the web app reports a crash that an error boundary caught.

A report is logged as one structured WARNING line under the request's correlation id, which
the response returns so the app can show it ("error id") for support. Nothing is stored.

Who may report: signed-in people (any role). Crashes before sign-in are not reported (the
login page is small; an anonymous endpoint would be a free log-writing service for anyone
who can reach the port). API keys act for machines, which run no web app: refused (403).

Bounds: each field has a maximum length (400 INVALID_INPUT over it), a declared body over
:data:`MAX_BODY_BYTES` is refused with 413 before it is parsed, and reports are rate-limited
per person and per address (429), on top of the general per-principal limit.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Request
from limits import RateLimitItem, parse
from pydantic import Field

from beholder.api.deps import StateDep, ViewerDep
from beholder.api.middleware.http import client_ip
from beholder.api.schemas import ApiModel, UtcInstant
from beholder.auth.roles import Principal
from beholder.errors import AppError, ErrorCode, PermissionDenied
from beholder.observability import correlation_id_var

router = APIRouter(prefix="/api/client-errors", tags=["client-errors"])
log = structlog.get_logger("beholder.client")

MAX_BODY_BYTES = 32 * 1024
"""A report's largest declared body (bytes); the field limits below add up to less."""
PER_PRINCIPAL: RateLimitItem = parse("10/minute")
"""Reports one person may send: a crash loop in one tab cannot flood the log."""
PER_ADDRESS: RateLimitItem = parse("30/minute")
"""Reports from one address, whoever is signed in there (several accounts, one attacker)."""


class ClientErrorReport(ApiModel):
    """What the web app knows about a crash. Strings are truncated by the app; the server
    refuses (400) anything longer than these limits rather than cutting it silently."""

    message: str = Field(min_length=1, max_length=1000, description="The error's message")
    stack: str | None = Field(default=None, max_length=8000, description="JS stack trace")
    component_stack: str | None = Field(
        default=None, max_length=8000, description="React component stack"
    )
    route: str = Field(max_length=2048, description="The app's path when it crashed")
    user_agent: str = Field(max_length=512, description="navigator.userAgent")
    occurred_at: UtcInstant = Field(description="When the boundary caught it (client clock)")


class ClientErrorAccepted(ApiModel):
    """The report was logged; ``correlation_id`` is the "error id" to quote to support."""

    correlation_id: str


async def _body_size(request: Request) -> None:
    """413 for a declared body over :data:`MAX_BODY_BYTES` (a chunked body is bounded by
    the app-wide limit and then by the field limits)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise AppError(code=ErrorCode.PAYLOAD_TOO_LARGE, detail=f"client error of {length} B")


async def _person(principal: ViewerDep) -> Principal:
    """The signed-in user; an API key (a machine, which runs no web app) is refused (403)."""
    if principal.kind != "user":
        raise PermissionDenied(detail=f"{principal.key}: client errors come from people")
    return principal


PersonDep = Annotated[Principal, Depends(_person)]


@router.post(
    "",
    status_code=202,
    response_model=ClientErrorAccepted,
    dependencies=[Depends(_body_size)],
    responses={413: {"description": "Body too large"}, 429: {"description": "Rate limited"}},
)
async def report_client_error(
    report: ClientErrorReport,
    request: Request,
    principal: PersonDep,
    state: StateDep,
) -> ClientErrorAccepted:
    """Log a crash of the web app (202 with the correlation id). Any signed-in user;
    API keys 403; 413/400 over the size limits; 429 over the report rate."""
    ip = client_ip(request.scope)
    await state.limiter.hit(PER_PRINCIPAL, "client-errors", principal.key)
    await state.limiter.hit(PER_ADDRESS, "client-errors-ip", ip)
    cid = correlation_id_var.get() or ""
    log.warning(
        "client error",
        correlation_id=cid,
        error_message=report.message,
        stack=report.stack,
        component_stack=report.component_stack,
        route=report.route,
        user_agent=report.user_agent,
        occurred_at=report.occurred_at.isoformat(),
        principal=principal.key,
        client=ip,
    )
    return ClientErrorAccepted(correlation_id=cid)
