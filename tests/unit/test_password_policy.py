"""The one password policy (issue 9, finding 10) and the secret-key length, as functions and
as settings (start-up refuses them with one line naming the variable)."""

from __future__ import annotations

import pytest

from beholder.auth.passwords import generate_password
from beholder.config import Settings, SettingsError, load_settings
from beholder.password_policy import (
    MIN_LENGTH,
    WeakPassword,
    check_password,
    check_secret_key,
    common_passwords,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("BEHOLDER_"):
            monkeypatch.delenv(key)


@pytest.mark.parametrize(
    "password",
    ["a", "x" * (MIN_LENGTH - 1), "password1234", "PASSWORD1234", "qwerty123456", "!!Password2024"],
)
def test_short_or_common_passwords_are_refused(password: str) -> None:
    with pytest.raises(WeakPassword):
        check_password(password)


@pytest.mark.parametrize(
    "password", ["admin-password-1", "correct horse battery", "x" * MIN_LENGTH, "Zq8#vLp2!mRt"]
)
def test_long_unlisted_passwords_pass(password: str) -> None:
    assert check_password(password) == password


def test_the_bundled_list_is_small_lower_case_and_loaded() -> None:
    listed = common_passwords()
    assert 1000 < len(listed) < 5000
    assert "password" in listed and "q1w2e3r4t5y6" in listed
    assert all(p == p.lower() and not p.startswith("#") for p in listed)


def test_generated_passwords_obey_the_policy() -> None:
    for _ in range(50):
        password = generate_password()
        assert check_password(password) == password


def test_secret_key_needs_32_bytes() -> None:
    assert check_secret_key("k" * 32) == "k" * 32
    with pytest.raises(ValueError, match="at least 32 bytes"):
        check_secret_key("k" * 31)


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("BEHOLDER_ADMIN_PASSWORD", "short", "at least 12 characters"),
        ("BEHOLDER_ADMIN_PASSWORD", "password1234", "too common"),
        ("BEHOLDER_SECRET_KEY", "s" * 31, "at least 32 bytes"),
        ("BEHOLDER_RATE_LIMIT_REFRESH", "often", "not a rate limit"),
    ],
)
def test_settings_refuse_weak_secrets_with_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    (line,) = str(err.value).splitlines()
    assert line.startswith(f"invalid setting {variable}="), line
    assert reason in line
    if "RATE" not in variable:
        assert "<hidden>" in line and value not in line


def test_strong_settings_are_accepted() -> None:
    s = Settings(admin_password="a-long-unlisted-phrase", secret_key="k" * 32)
    assert s.admin_password is not None
    assert s.admin_password.get_secret_value() == "a-long-unlisted-phrase"
