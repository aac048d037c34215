"""A real ``beholder serve`` subprocess for the TLS tests and bench: started with extra
flags, its stdout collected, ready once ``/api/system/health`` answers; and a small CA for
tests that bring their own certificate."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support.polling import wait_until

ADMIN_PASSWORD = "admin-password-1"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """A running ``beholder serve``: its process, port, data dir and stdout lines so far."""

    proc: subprocess.Popen[str]
    port: int
    data_dir: Path
    lines: list[str] = field(default_factory=list)

    def line(self, prefix: str) -> str:
        """The rest of the first stdout line starting with ``prefix`` (AssertionError if none)."""
        for ln in self.lines:
            if ln.startswith(prefix):
                return ln[len(prefix) :].strip()
        raise AssertionError(f"no stdout line {prefix!r} in {self.lines}")


def serve_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of a test ``serve``: no worker (unless ``extra`` says so), JSON logs,
    a known admin password; ``extra`` variables win."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
    env.update(
        BEHOLDER_DATA_DIR=str(data_dir),
        BEHOLDER_PORT=str(port),
        BEHOLDER_LOG_FORMAT="json",
        BEHOLDER_ADMIN_PASSWORD=ADMIN_PASSWORD,
        BEHOLDER_RUN_WORKER="false",
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def serve(data_dir: Path, args: list[str], *, ca: Path | None, **env: str) -> Iterator[Served]:
    """Run ``beholder serve ARGS`` until the ``with`` block ends (SIGTERM, then wait).

    Ready once ``GET /api/system/health`` answers 200 over https trusting only ``ca`` (which
    may not exist before the server writes it), or over plain HTTP when ``ca`` is None."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "beholder", "serve", *args],
        env=serve_env(data_dir, port, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    served = Served(proc, port, data_dir)
    assert proc.stdout is not None
    out = proc.stdout
    reader = threading.Thread(target=lambda: served.lines.extend(iter(out.readline, "")))
    reader.start()
    url = f"{'http' if ca is None else 'https'}://127.0.0.1:{port}/api/system/health"

    def ready() -> bool:
        assert proc.poll() is None, f"serve exited: {served.lines}"
        try:
            verify = True if ca is None else trust(ca)
            return httpx.get(url, verify=verify, timeout=2).status_code == 200
        except (httpx.TransportError, FileNotFoundError):
            return False

    try:
        wait_until(ready, 60, "serve to answer on its port", every=0.1)
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join()


def trust(ca: Path) -> ssl.SSLContext:
    """A client context that trusts ``ca`` only (and checks host names)."""
    return ssl.create_default_context(cafile=str(ca))


@dataclass(frozen=True)
class TestCa:
    """A CA made by the test (not by Beholder) and a server certificate it signed for
    ``127.0.0.1``/``localhost``, as PEM files."""

    ca: Path
    cert: Path
    key: Path


def make_test_ca(folder: Path) -> TestCa:
    """Write ``ca.pem``, ``leaf.pem`` and ``leaf.key`` (RSA-free, EC P-256) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    out = TestCa(folder / "ca.pem", folder / "leaf.pem", folder / "leaf.key")
    out.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    out.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return out
