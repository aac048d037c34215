"""``/api/auth``: login, refresh, logout, me."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from beholder.api.deps import StateDep, ViewerDep
from beholder.api.middleware.http import client_ip
from beholder.api.schemas import LoginRequest, Me, RefreshRequest, TokenResponse
from beholder.auth.tokens import TokenPair

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _tokens(pair: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
    )


@router.post("/login", response_model=TokenResponse)
async def login(body: LoginRequest, request: Request, state: StateDep) -> TokenResponse:
    """Exchange a username and password for an access token (short-lived) and a refresh token."""
    await state.limiter.check_login(client_ip(request.scope), body.username)
    return _tokens(await state.auth.login(body.username, body.password))


@router.post("/refresh", response_model=TokenResponse)
async def refresh(body: RefreshRequest, request: Request, state: StateDep) -> TokenResponse:
    """Rotate a refresh token: returns a new pair and revokes the one presented."""
    await state.limiter.check_login(client_ip(request.scope), "refresh")
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
