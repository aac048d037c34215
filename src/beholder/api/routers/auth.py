"""``/api/auth``: login, refresh, logout, me."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from beholder.api.deps import StateDep, ViewerDep
from beholder.api.middleware.http import client_ip
from beholder.api.schemas import LoginRequest, Me, RefreshRequest, TokenResponse
from beholder.auth.audit import Actor, record_alone
from beholder.auth.tokens import TokenPair
from beholder.contracts.audit import AuditAction
from beholder.errors import Unauthorized

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _tokens(pair: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
    )


@router.post("/login", response_model=TokenResponse)
async def login(body: LoginRequest, request: Request, state: StateDep) -> TokenResponse:
    """Exchange a username and password for an access token (short-lived) and a refresh token.

    429 when the address sends too many attempts, or while (address, username) backs off
    after wrong passwords; other addresses are not affected."""
    ip = client_ip(request.scope)
    await state.limiter.check_login(ip, body.username)
    try:
        pair = await state.auth.login(body.username, body.password)
    except Unauthorized:
        await state.limiter.login_failed(ip, body.username)
        # Own transaction (the login's rolled back); the name tried, never the password.
        await record_alone(state.db, AuditAction.SIGN_IN_FAILED, Actor.anonymous(body.username))
        raise
    await state.limiter.login_succeeded(ip, body.username)
    return _tokens(pair)


@router.post("/refresh", response_model=TokenResponse)
async def refresh(body: RefreshRequest, request: Request, state: StateDep) -> TokenResponse:
    """Rotate a refresh token: returns a new pair and revokes the one presented.

    429 per address and per user (the subject of a correctly signed token), never for all."""
    subject = state.auth.tokens.subject(body.refresh_token, "refresh")
    await state.limiter.check_refresh(client_ip(request.scope), subject)
    return _tokens(await state.auth.refresh(body.refresh_token))


@router.post("/logout", status_code=204, response_class=Response)
async def logout(body: RefreshRequest, principal: ViewerDep, state: StateDep) -> Response:
    """Revoke the caller's refresh token (the access token expires by itself shortly)."""
    await state.auth.logout(body.refresh_token, principal)
    return Response(status_code=204)


@router.get("/me", response_model=Me)
async def me(principal: ViewerDep) -> Me:
    """Who the caller is."""
    return Me(
        id=principal.id,
        username=principal.name,
        role=principal.role,
        kind="user" if principal.kind == "user" else "api_key",
        scope=principal.scope,
    )
