"""API keys for machines: ``bhk_<prefix>_<secret>``; only a SHA-256 of the key is stored.

Keys carry 256 bits of randomness, so a fast hash is safe (no password stretching needed)
and keeps key checks cheap on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "bhk"


def generate_api_key() -> tuple[str, str, str]:
    """A new key: ``(full_key, lookup_prefix, sha256_hex)``. Show ``full_key`` once."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    full = f"{KEY_PREFIX}_{prefix}_{secret}"
    return full, prefix, hash_api_key(full)


def hash_api_key(key: str) -> str:
    """SHA-256 hex digest of a full key."""
    return hashlib.sha256(key.encode()).hexdigest()


def parse_prefix(key: str) -> str | None:
    """The lookup prefix of a well-formed key, else ``None``."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 12:
        return None
    return parts[1]


def key_matches(key: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key with its stored hash."""
    return hmac.compare_digest(hash_api_key(key), stored_hash)
