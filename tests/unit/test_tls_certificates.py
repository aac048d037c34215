"""The self-signed CA and server certificate: what is covered, when they are reused and when
the server certificate is re-issued (same CA), and the SPKI fingerprint's form."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import ipaddress
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from beholder import tls
from beholder.files import mode_of


def _leaf(folder: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate((folder / "server.pem").read_bytes())


def test_covers_the_machine_and_chains_to_the_ca(tmp_path: Path) -> None:
    files = tls.ensure_self_signed(tmp_path / "tls")
    assert files.issued and files.ca is not None
    leaf = _leaf(tmp_path / "tls")
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names, addrs = tls.machine_names()
    assert set(san.get_values_for_type(x509.DNSName)) == set(names) >= {"localhost"}
    ips = set(san.get_values_for_type(x509.IPAddress))
    assert ips == set(addrs)
    assert {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")} <= ips
    # server.pem is the chain: leaf, then the CA; openssl verifies it against ca.pem
    chain = x509.load_pem_x509_certificates((tmp_path / "tls" / "server.pem").read_bytes())
    assert [c.subject for c in chain] == [leaf.subject, chain[1].issuer]
    assert chain[1].public_bytes(serialization.Encoding.PEM) == files.ca.read_bytes()
    out = subprocess.run(
        ["openssl", "verify", "-CAfile", str(files.ca), str(files.cert)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= dt.timedelta(days=826)
    for name in ("ca.key", "server.key"):
        assert mode_of(tmp_path / "tls" / name) == 0o600


def test_spki_fingerprint_is_base64_sha256_of_the_public_key(tmp_path: Path) -> None:
    files = tls.ensure_self_signed(tmp_path / "tls")
    assert files.ca is not None
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    der = ca.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert files.ca_spki == base64.b64encode(hashlib.sha256(der).digest()).decode()


def test_reused_then_reissued_for_a_new_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tls.ensure_self_signed(tmp_path / "tls")
    again = tls.ensure_self_signed(tmp_path / "tls")
    assert again == dataclasses.replace(first, issued=False)

    names, addrs = tls.machine_names()
    new = ipaddress.ip_address("192.0.2.77")
    monkeypatch.setattr(tls, "machine_names", lambda: (names, [*addrs, new]))
    moved = tls.ensure_self_signed(tmp_path / "tls")
    assert moved.issued and moved.ca_spki == first.ca_spki  # same CA: phones keep trusting
    assert moved.server_spki != first.server_spki
    san = _leaf(tmp_path / "tls").extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert new in san.value.get_values_for_type(x509.IPAddress)


def test_reissued_near_expiry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = tls.ensure_self_signed(tmp_path / "tls")
    monkeypatch.setattr(tls, "_RENEW_BEFORE", dt.timedelta(days=900))  # always "near expiry"
    renewed = tls.ensure_self_signed(tmp_path / "tls")
    assert renewed.issued and renewed.ca_spki == first.ca_spki
