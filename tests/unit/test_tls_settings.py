"""``TlsSettings`` and the ``--tls*`` flags: which combinations are accepted, and the
redirect's ``Location``."""

from __future__ import annotations

from pathlib import Path

import pytest

from beholder.cli import _settings, build_parser
from beholder.config import SettingsError, TlsSettings, load_settings
from beholder.tls import redirect_location


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("BEHOLDER_"):
            monkeypatch.delenv(key)


def test_off_by_default() -> None:
    assert load_settings().tls.mode == "off"
    assert not load_settings().tls.enabled


def test_cert_and_key_imply_files_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEHOLDER_TLS_CERT", "/etc/c.pem")
    monkeypatch.setenv("BEHOLDER_TLS_KEY", "/etc/k.pem")
    tls = load_settings().tls
    assert (tls.mode, tls.cert, tls.key, tls.enabled) == (
        "files",
        Path("/etc/c.pem"),
        Path("/etc/k.pem"),
        True,
    )


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"cert": "/c.pem"}, "go together"),
        ({"key": "/k.pem"}, "go together"),
        ({"mode": "self-signed", "cert": "/c", "key": "/k"}, "drop CERT/KEY"),
        ({"mode": "files"}, "needs BEHOLDER_TLS_CERT"),
        ({"redirect_port": "8080"}, "needs TLS"),
    ],
)
def test_inconsistent_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], reason: str
) -> None:
    for k, v in values.items():
        monkeypatch.setenv(f"BEHOLDER_TLS_{k.upper()}", v)
    with pytest.raises(SettingsError, match=reason):
        load_settings()


def test_flags_override_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEHOLDER_TLS_REDIRECT_PORT", "8080")
    monkeypatch.setenv("BEHOLDER_TLS_MODE", "self-signed")
    args = build_parser().parse_args(["serve", "--tls-redirect-port", "9080"])
    tls = _settings(args).tls
    assert (tls.mode, tls.redirect_port) == ("self-signed", 9080)
    args = build_parser().parse_args(["api", "--tls-cert", "/c.pem", "--tls-key", "/k.pem"])
    monkeypatch.delenv("BEHOLDER_TLS_MODE")
    assert _settings(args).tls == TlsSettings(
        mode="files", cert=Path("/c.pem"), key=Path("/k.pem"), redirect_port=8080
    )


@pytest.mark.parametrize(
    ("target", "host", "port", "location"),
    [
        ("/a?b=1", "cam.lan:8080", 8443, "https://cam.lan:8443/a?b=1"),
        ("/", "cam.lan", 443, "https://cam.lan/"),
        ("/x", "[fd00::1]:80", 8443, "https://[fd00::1]:8443/x"),
        ("/x", None, 8443, "https://127.0.0.1:8443/x"),
        ("http://evil/x", "h", 8443, "https://h:8443/"),
        ("/x", "evil.com/@", 8443, "https://127.0.0.1:8443/x"),
    ],
)
def test_redirect_location(target: str, host: str | None, port: int, location: str) -> None:
    assert redirect_location(target, host, "127.0.0.1", port) == location
