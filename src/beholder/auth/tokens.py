"""JWT access and refresh tokens (HS256, PyJWT) and the signing secret on disk."""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from beholder.errors import Unauthorized
from beholder.messages import new_id
from beholder.password_policy import check_secret_key

ALGORITHM = "HS256"
ISSUER = "beholder"


def load_or_create_secret(path: Path) -> str:
    """Read the signing secret from ``path`` or create it (256 bits, file mode 600).

    Raises ``ValueError`` when the file holds fewer than 32 bytes (a hand-written weak key
    is refused like a weak ``BEHOLDER_SECRET_KEY``)."""
    if path.exists():
        secret = path.read_text().strip()
        try:
            return check_secret_key(secret)
        except ValueError as exc:
            raise ValueError(f"the signing secret in {path} {exc}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    return secret


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    refresh_jti: str
    expires_in: int
    refresh_expires_at: float


class TokenService:
    """Issues and verifies tokens. ``access_ttl``/``refresh_ttl`` in seconds."""

    def __init__(self, secret: str, access_ttl: int, refresh_ttl: int) -> None:
        self._secret = secret
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl

    def issue(self, user_id: str, username: str, role: str) -> TokenPair:
        """A new access + refresh pair for a user."""
        now = int(time.time())
        jti = new_id()
        access = jwt.encode(
            {
                "sub": user_id,
                "name": username,
                "role": role,
                "typ": "access",
                "iss": ISSUER,
                "iat": now,
                "exp": now + self.access_ttl,
                "jti": new_id(),
            },
            self._secret,
            algorithm=ALGORITHM,
        )
        refresh = jwt.encode(
            {
                "sub": user_id,
                "typ": "refresh",
                "iss": ISSUER,
                "iat": now,
                "exp": now + self.refresh_ttl,
                "jti": jti,
            },
            self._secret,
            algorithm=ALGORITHM,
        )
        return TokenPair(access, refresh, jti, self.access_ttl, now + self.refresh_ttl)

    def decode(self, token: str, typ: str) -> dict[str, Any]:
        """Verified claims of a token of type ``typ``; raises ``Unauthorized``."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "sub", "typ", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized(
                "Your session has expired. Please sign in again.", detail=str(exc)
            ) from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized("Invalid credentials.", detail=f"bad token: {exc}") from exc
        if claims.get("typ") != typ:
            raise Unauthorized("Invalid credentials.", detail=f"expected {typ} token")
        return claims

    def subject(self, token: str, typ: str) -> str | None:
        """The ``sub`` of a correctly signed, unexpired token of type ``typ``, else ``None``.

        Only for keying rate limits: a forged token cannot spend someone else's budget, and
        the token is checked again (revocation included) by whoever acts on it."""
        try:
            sub = self.decode(token, typ).get("sub")
        except Unauthorized:
            return None
        return sub if isinstance(sub, str) else None
