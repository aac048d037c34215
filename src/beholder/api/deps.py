"""FastAPI dependencies: shared state, DB session, the calling principal and role checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from beholder.api.state import AppState
from beholder.auth.audit import record_alone
from beholder.auth.media import REFUSED as MEDIA_LINK_REFUSED
from beholder.auth.roles import Principal, Role
from beholder.contracts.audit import AuditAction, AuditOutcome
from beholder.errors import PermissionDenied, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="JWT access token from /api/auth/login")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="Machine API key")


def get_state(request: Request) -> AppState:
    """The app's shared :class:`AppState`."""
    state: AppState = request.app.state.beholder
    return state


StateDep = Annotated[AppState, Depends(get_state)]


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    """A DB session per request: committed when the handler returns, rolled back on error."""
    async with state.db.session() as session:
        yield session


# scope="function": commit before the response is sent, so a client's next request
# always sees its own write.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def current_principal(
    request: Request,
    state: StateDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The authenticated caller; raises ``Unauthorized`` (401) when absent or invalid.

    Credentials come in headers only; media endpoints also take a signed URL (see
    :func:`media_principal`)."""
    credential = None
    if bearer is not None and bearer.scheme.lower() == "bearer":
        credential = bearer.credentials
    elif api_key:
        credential = api_key
    if not credential:
        raise Unauthorized(detail="no credentials")
    principal = await state.auth.authenticate(credential)
    await state.limiter.check_principal(principal.key)
    request.state.principal = principal
    return principal


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """Dependency factory: the principal if it holds at least ``role``, else 403."""

    async def dep(
        request: Request, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        if not principal.can(role):
            await _audit_denied(request, principal, role)
            raise PermissionDenied(detail=f"{principal.key} lacks role {role}")
        return principal

    dep.__name__ = f"require_{role.value}"
    return dep


async def _audit_denied(request: Request, principal: Principal, role: Role) -> None:
    """An ``auth.access_denied`` row: the method and route template (never the query
    string), the role that was needed."""
    route = getattr(request.scope.get("route"), "path", None) or request.url.path
    await record_alone(
        get_state(request).db,
        AuditAction.ACCESS_DENIED,
        principal,
        outcome=AuditOutcome.DENIED,
        details={"method": request.method, "route": route, "required": role.value},
    )


require_viewer = require(Role.VIEWER)
require_operator = require(Role.OPERATOR)
require_admin = require(Role.ADMIN)

ViewerDep = Annotated[Principal, Depends(require_viewer)]
OperatorDep = Annotated[Principal, Depends(require_operator)]
AdminDep = Annotated[Principal, Depends(require_admin)]


async def optional_principal(
    request: Request,
    state: StateDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal | None:
    """The caller on public endpoints that show more to a signed-in principal: ``None``
    without credentials; credentials that are present must be valid (else 401)."""
    if (bearer is None or not bearer.credentials) and not api_key:
        return None
    return await current_principal(request, state, bearer, api_key)


OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]


async def media_principal(
    request: Request,
    state: StateDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
    exp: Annotated[str | None, Query(max_length=16, description="Signed URL expiry")] = None,
    sig: Annotated[
        str | None, Query(max_length=256, description="Signature from POST /api/media/sign")
    ] = None,
) -> Principal:
    """Viewer and up, from the headers (as :func:`current_principal`) or, because
    ``<img src>`` cannot send headers, from a signed URL (``?exp=&sig=`` of
    ``POST /api/media/sign``) for this exact path whose principal is still valid. No bearer
    token or API key is taken from the query string. Only used on read-only media endpoints."""
    if bearer is None and not api_key and (sig is not None or exp is not None):
        kind, principal_id = state.media.verify(request.url.path, exp or "", sig or "")
        principal = await state.auth.principal_of(kind, principal_id, MEDIA_LINK_REFUSED)
        await state.limiter.check_principal(principal.key)
        request.state.principal = principal
    else:
        principal = await current_principal(request, state, bearer, api_key)
    if not principal.can(Role.VIEWER):
        raise PermissionDenied()
    return principal


MediaViewerDep = Annotated[Principal, Depends(media_principal)]
