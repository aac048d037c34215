"""Short-lived signed media URLs: ``<path>?exp=<unix s>&sig=<kind>.<id>.<mac>``.

``<img src>`` and players such as VLC cannot send an ``Authorization`` header, and a bearer
token in a URL ends up in logs, history and ``Referer``s. Instead an authenticated client
asks for a URL of one media path (``POST /api/media/sign``); the signature binds that exact
path, the expiry (at most :data:`MEDIA_URL_TTL` seconds ahead) and the principal, whose
account is checked again when the URL is used (a revoked key or disabled user's URLs stop
working at once). HMAC-SHA256 under a key derived from the app secret, so a media signature
can never pass for a JWT or the other way round.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

from beholder.auth.roles import Principal
from beholder.errors import Unauthorized

MEDIA_URL_TTL = 60
"""Seconds a signed media URL stays valid (an MJPEG stream opened in time keeps playing)."""
_KINDS = ("user", "api_key")
REFUSED = "This media link is invalid or has expired."
"""User-safe refusal for a bad, expired or no-longer-valid signed media URL."""


@dataclass(frozen=True, slots=True)
class SignedMedia:
    """A signed URL for ``path``: ``url`` (path plus ``?exp=&sig=``) and ``expires_at``
    (unix seconds)."""

    path: str
    url: str
    sig: str
    expires_at: int


class MediaSigner:
    """Signs and verifies media URLs. ``secret``: the app's signing secret."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), b"beholder media url v1", hashlib.sha256).digest()

    def _mac(self, path: str, exp: int, kind: str, principal_id: str) -> str:
        msg = f"{path}\n{exp}\n{kind}\n{principal_id}".encode()
        digest = hmac.new(self._key, msg, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, path: str, principal: Principal, now: float | None = None) -> SignedMedia:
        """A URL for ``path`` (the exact request path, no query) valid for
        :data:`MEDIA_URL_TTL` seconds from ``now`` (default: the clock)."""
        exp = int(now if now is not None else time.time()) + MEDIA_URL_TTL
        sig = (
            f"{principal.kind}.{principal.id}.{self._mac(path, exp, principal.kind, principal.id)}"
        )
        return SignedMedia(path=path, url=f"{path}?exp={exp}&sig={sig}", sig=sig, expires_at=exp)

    def verify(self, path: str, exp: str, sig: str, now: float | None = None) -> tuple[str, str]:
        """``(kind, principal id)`` that signed ``path`` with ``exp``; raises ``Unauthorized``
        when the signature does not match this path, is malformed, or has expired."""
        parts = sig.split(".")
        if len(parts) != 3 or parts[0] not in _KINDS or not exp.isdigit() or len(exp) > 12:
            raise Unauthorized(REFUSED, detail="malformed media signature")
        kind, principal_id, mac = parts
        expires = int(exp)
        if not hmac.compare_digest(mac, self._mac(path, expires, kind, principal_id)):
            raise Unauthorized(REFUSED, detail=f"media signature mismatch for {path}")
        current = now if now is not None else time.time()
        if expires < current:
            raise Unauthorized(REFUSED, detail="media signature expired")
        if expires > current + MEDIA_URL_TTL + 5:  # our own keys never sign that far ahead
            raise Unauthorized(REFUSED, detail="media signature expiry too far ahead")
        return kind, principal_id
