"""The one password policy (DESIGN §10), applied wherever a password is set: the users API
(create, update), ``beholder user create|set-password``, ``BEHOLDER_ADMIN_PASSWORD`` and the
generated first-run password.

A password must have at least :data:`MIN_LENGTH` characters and must not be a common
password: neither itself nor its core (without leading/trailing digits and punctuation, so
``Password2024!`` counts as ``password``) may be in the bundled list
``common_passwords.txt``, compared case-insensitively.

It lives at the bottom layer (beside ``config``) because the settings check
``BEHOLDER_ADMIN_PASSWORD`` and ``BEHOLDER_SECRET_KEY`` at start-up.
"""

from __future__ import annotations

import string
from functools import cache
from importlib.resources import files

MIN_LENGTH = 12
"""Fewest characters a password may have."""
MAX_LENGTH = 256
"""Most characters a password may have (argon2 hashes any length; this bounds the work)."""
MIN_SECRET_KEY_BYTES = 32
"""Fewest bytes (UTF-8) of ``BEHOLDER_SECRET_KEY``: HS256 wants a key of at least 256 bits."""

_EDGES = string.digits + string.punctuation + " "
_MIN_CORE = 4  # shorter cores ("abc" of "abc-2024-xyz!") are not words worth refusing


class WeakPassword(ValueError):
    """The password breaks the policy; ``str()`` is a user-safe sentence saying why."""


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list, lower case (read once)."""
    text = files("beholder").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def check_password(password: str) -> str:
    """Return ``password`` unchanged when it satisfies the policy.

    Raises :class:`WeakPassword` (a ``ValueError``, so pydantic validators report it as
    invalid input) when it is shorter than :data:`MIN_LENGTH`, longer than
    :data:`MAX_LENGTH`, or common."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"The password must have at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"The password must have at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    core = lowered.strip(_EDGES)
    listed = common_passwords()
    if lowered in listed or (len(core) >= _MIN_CORE and core in listed):
        raise WeakPassword("This password is too common. Choose a less predictable one.")
    return password


def check_secret_key(secret: str) -> str:
    """Return ``secret`` unchanged when it has at least :data:`MIN_SECRET_KEY_BYTES` bytes;
    raises ``ValueError`` otherwise."""
    if len(secret.encode()) < MIN_SECRET_KEY_BYTES:
        raise ValueError(
            f"must be at least {MIN_SECRET_KEY_BYTES} bytes "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    return secret
