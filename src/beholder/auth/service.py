"""Authentication use cases: login, refresh, logout, and turning a credential into a
:class:`Principal` (bearer JWT or API key)."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta

import structlog

from beholder.auth import passwords
from beholder.auth.api_keys import key_matches, parse_prefix
from beholder.auth.audit import Actor, record
from beholder.auth.roles import SCOPE_ROLE, ApiKeyScope, Principal, Role
from beholder.auth.tokens import TokenPair, TokenService
from beholder.contracts.audit import AuditAction, AuditOutcome, AuditTarget, PrincipalType
from beholder.db.engine import Database
from beholder.db.models import ApiKey, User
from beholder.db.repositories import api_keys as keys_repo
from beholder.db.repositories import users as users_repo
from beholder.errors import Unauthorized
from beholder.messages import utcnow

log = structlog.get_logger(__name__)

_BAD_LOGIN = "Incorrect username or password."
_API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)
PRINCIPAL_CACHE_TTL = 5.0
"""Seconds a verified credential's principal is reused without a DB read. Changes made
through this api instance (role, disable, revoke) invalidate at once; changes made
elsewhere (another instance, the CLI) apply within this time."""
_PRINCIPAL_CACHE_MAX = 10_000


class AuthService:
    """Verifies credentials against the database. Every failure raises ``Unauthorized``."""

    def __init__(self, db: Database, tokens: TokenService) -> None:
        self.db = db
        self.tokens = tokens
        # credential -> (principal, monotonic expiry); saves a DB round trip per request
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._hashing = asyncio.Semaphore(os.cpu_count() or 1)

    def invalidate(self, principal_id: str | None = None) -> None:
        """Forget cached principals (of one user or key id, or all)."""
        if principal_id is None:
            self._cache.clear()
            return
        for cred in [c for c, (p, _) in self._cache.items() if p.id == principal_id]:
            self._cache.pop(cred, None)

    async def login(self, username: str, password: str) -> TokenPair:
        """Check a password and issue tokens; the same error for unknown user or bad password."""
        async with self.db.session() as s:
            user = await users_repo.get_by_username(s, username)
            stored = user.password_hash if user else None
            # Argon2 takes ~0.1-0.5 s of CPU and 64 MiB: off the event loop (other requests
            # go on), and at most one per CPU at a time (memory stays bounded).
            async with self._hashing:
                ok = await asyncio.to_thread(passwords.verify_password, stored, password)
            if user is None or not ok or user.disabled:
                raise Unauthorized(_BAD_LOGIN, detail=f"login failed for {username!r}")
            if passwords.needs_rehash(user.password_hash):
                async with self._hashing:
                    user.password_hash = await asyncio.to_thread(passwords.hash_password, password)
            pair = self.tokens.issue(user.id, user.username, user.role)
            await users_repo.store_refresh(
                s, pair.refresh_jti, user.id, datetime.fromtimestamp(pair.refresh_expires_at, UTC)
            )
            actor = Actor(PrincipalType.USER, user.id, user.username)
            record(s, AuditAction.SIGN_IN, actor, target_type=AuditTarget.USER, target_id=user.id)
            return pair

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate a refresh token: the old one is revoked, a new pair is issued.

        The old token is revoked by a conditional update that exactly one of several
        concurrent requests wins; the others, and any later reuse of a revoked token, are
        refused (401) and revoke every refresh token of that user (theft signal)."""
        claims = self.tokens.decode(refresh_token, "refresh")
        async with self.db.session() as s:
            stored = await users_repo.get_refresh(s, claims["jti"])
            if stored is None:
                raise Unauthorized("Invalid credentials.", detail="unknown refresh token")
            user_id = stored.user_id
            if stored.revoked_at is not None or not await users_repo.claim_refresh(s, stored.id):
                await users_repo.revoke_all_refresh(s, user_id)
                owner = await users_repo.find(s, user_id)
                record(
                    s,
                    AuditAction.REFRESH_REUSE_DETECTED,
                    Actor(PrincipalType.USER, user_id, owner.username if owner else None),
                    target_type=AuditTarget.USER,
                    target_id=user_id,
                    outcome=AuditOutcome.DENIED,
                    details={"allSessionsRevoked": True},
                )
                await s.commit()
                raise Unauthorized(
                    "Your session has ended. Please sign in again.",
                    detail="revoked refresh token reused",
                )
            user = await users_repo.find(s, user_id)
            if user is None or user.disabled:
                raise Unauthorized(_BAD_LOGIN, detail="user missing or disabled")
            pair = self.tokens.issue(user.id, user.username, user.role)
            await users_repo.store_refresh(
                s, pair.refresh_jti, user.id, datetime.fromtimestamp(pair.refresh_expires_at, UTC)
            )
            return pair

    async def logout(self, refresh_token: str, principal: Principal) -> None:
        """Revoke a refresh token belonging to ``principal`` (others' tokens are ignored)."""
        try:
            claims = self.tokens.decode(refresh_token, "refresh")
        except Unauthorized:
            return
        if claims.get("sub") != principal.id:
            return
        async with self.db.session() as s:
            await users_repo.revoke_refresh(s, claims["jti"])

    async def authenticate(self, credential: str) -> Principal:
        """A principal for a bearer access token or an API key; raises ``Unauthorized``.

        Verified principals are cached for ``PRINCIPAL_CACHE_TTL`` seconds (never past the
        token's own expiry)."""
        now = time.monotonic()
        hit = self._cache.get(credential)
        if hit is not None and hit[1] > now:
            principal = hit[0]
            if principal.expires_at is None or principal.expires_at > time.time():
                return principal
        principal = await self._authenticate_uncached(credential)
        if len(self._cache) >= _PRINCIPAL_CACHE_MAX:
            self._cache.clear()
        self._cache[credential] = (principal, now + PRINCIPAL_CACHE_TTL)
        return principal

    async def _authenticate_uncached(self, credential: str) -> Principal:
        if parse_prefix(credential) is not None:
            return await self.authenticate_api_key(credential)
        claims = self.tokens.decode(credential, "access")
        async with self.db.session() as s:
            # find, not get: a deleted user's token is a bad credential (401), never a 404.
            user = await users_repo.find(s, claims["sub"]) if claims.get("sub") else None
        # Role and disabled are read from the DB so that changes apply at once.
        if user is None or user.disabled:
            raise Unauthorized("Invalid credentials.", detail="user missing or disabled")
        return user_principal(user, expires_at=float(claims["exp"]))

    async def authenticate_api_key(self, key: str) -> Principal:
        """A principal for an API key; raises ``Unauthorized`` when unknown or revoked."""
        prefix = parse_prefix(key)
        if prefix is None:
            raise Unauthorized("Invalid API key.", detail="malformed API key")
        async with self.db.session() as s:
            row = await keys_repo.by_prefix(s, prefix)
            if row is None or row.revoked_at is not None or not key_matches(key, row.key_hash):
                raise Unauthorized("Invalid API key.", detail=f"API key {prefix} refused")
            now = utcnow()
            if row.last_used_at is None or now - row.last_used_at > _API_KEY_TOUCH_INTERVAL:
                row.last_used_at = now  # throttled: avoids a write on every request
            return key_principal(row)

    async def principal_of(self, kind: str, principal_id: str, refusal: str) -> Principal:
        """The principal ``kind`` (``user``/``api_key``) ``principal_id`` as the database has it
        now, for a credential that names it (a signed media URL); raises ``Unauthorized``
        with the user-safe ``refusal`` when the user is gone or disabled, or the key is gone
        or revoked. The principal has no expiry (long-lived uses are re-checked)."""
        async with self.db.session() as s:
            if kind == "user":
                user = await users_repo.find(s, principal_id)
                if user is None or user.disabled:
                    raise Unauthorized(refusal, detail=f"user {principal_id} missing or disabled")
                return user_principal(user)
            row = await s.get(ApiKey, principal_id) if kind == "api_key" else None
            if row is None or row.revoked_at is not None:
                raise Unauthorized(refusal, detail=f"API key {principal_id} missing or revoked")
            return key_principal(row)


def user_principal(user: User, expires_at: float | None = None) -> Principal:
    """The principal of a user row; ``expires_at``: its access token's expiry (unix s)."""
    return Principal(
        kind="user", id=user.id, name=user.username, role=Role(user.role), expires_at=expires_at
    )


def key_principal(row: ApiKey) -> Principal:
    """The principal of an API key row: the role its scope grants (``SCOPE_ROLE``)."""
    scope = ApiKeyScope(row.scope)
    return Principal(
        kind="api_key",
        id=row.id,
        name=row.name,
        role=SCOPE_ROLE[scope],
        scope=scope,
        owner_id=row.owner_id,
        nvr_id=row.nvr_id,
    )


def seconds_left(principal: Principal) -> float | None:
    """Seconds until the principal's access token expires (``None`` for API keys)."""
    if principal.expires_at is None:
        return None
    return principal.expires_at - time.time()
