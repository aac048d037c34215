import os
import stat
import time

import jwt
import pytest

from beholder.auth.api_keys import generate_api_key, key_matches, parse_prefix
from beholder.auth.passwords import hash_password, verify_password
from beholder.auth.tokens import TokenService, load_or_create_secret
from beholder.errors import Unauthorized


def test_secret_is_created_once_with_mode_600(tmp_path) -> None:
    path = tmp_path / "secret.key"
    first = load_or_create_secret(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_secret(path) == first and len(first) >= 40


def test_access_token_cannot_be_used_as_refresh_and_expires() -> None:
    svc = TokenService("s" * 40, access_ttl=30, refresh_ttl=60)
    pair = svc.issue("u1", "alice", "viewer")
    assert svc.decode(pair.access_token, "access")["sub"] == "u1"
    with pytest.raises(Unauthorized):
        svc.decode(pair.access_token, "refresh")
    expired = jwt.encode(
        {"sub": "u1", "typ": "access", "iss": "beholder", "exp": int(time.time()) - 5, "jti": "x"},
        "s" * 40,
        algorithm="HS256",
    )
    with pytest.raises(Unauthorized) as exc:
        svc.decode(expired, "access")
    assert "expired" in exc.value.message


def test_token_signed_with_another_secret_is_refused() -> None:
    other = TokenService("o" * 40, 30, 60).issue("u1", "alice", "admin")
    with pytest.raises(Unauthorized):
        TokenService("s" * 40, 30, 60).decode(other.access_token, "access")


def test_passwords_and_api_keys() -> None:
    h = hash_password("correct horse")
    assert verify_password(h, "correct horse") and not verify_password(h, "wrong")
    assert not verify_password(None, "anything")
    full, prefix, digest = generate_api_key()
    assert parse_prefix(full) == prefix and key_matches(full, digest)
    assert not key_matches(full + "x", digest) and parse_prefix("nope") is None
