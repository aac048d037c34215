"""A private ``nats-server`` per test (the system binary), started with the authentication the
test asks for, and the TLS material to go with it (a CA, a server and a client certificate
generated with ``cryptography``). Fixtures: ``nats_server`` (a factory), ``tls_files``.

A private server also keeps the subjects of a test (``camera.events``…) away from other test
runs on the shared server at 127.0.0.1:4222."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from support.polling import wait_until
from support.settings import free_port

__all__ = ["NatsServer", "TlsFiles", "nats_server", "tls_files"]


@dataclass
class NatsServer:
    """A running ``nats-server``: ``url`` (``nats://127.0.0.1:<port>``) and its process."""

    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: ``ca`` signs ``server_cert`` (127.0.0.1, localhost) and ``client_cert``."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _accepting(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_nats_server(directory: Path, config: str, jetstream: bool = True) -> NatsServer:
    """Run ``nats-server`` with ``config`` (nats-server syntax, without ``listen``) on a free
    loopback port; return once it accepts connections (fails the test after 15 s).

    JetStream is on (a store dir of its own under ``directory``; the NATS bus needs it)
    unless ``jetstream`` is False or ``config`` configures it itself."""
    binary = shutil.which("nats-server")
    if binary is None:
        pytest.skip("nats-server is not installed")
    port = free_port()
    conf = directory / f"nats-{port}.conf"
    if jetstream and "jetstream" not in config:
        config = f'{config}\njetstream {{ store_dir: "{directory / f"js-{port}"}" }}'
    conf.write_text(f"listen: 127.0.0.1:{port}\n{config}\n")
    log = directory / f"nats-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT)
    server = NatsServer(url=f"nats://127.0.0.1:{port}", port=port, proc=proc, log=log)

    def up() -> bool:
        assert proc.poll() is None, f"nats-server exited: {log.read_text()[-2000:]}"
        return _accepting(port)

    try:
        wait_until(up, 15, "nats-server to accept connections", every=0.05)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[Callable[..., NatsServer]]:
    """``nats_server(config, jetstream=True)``: a private ``nats-server`` (see
    :func:`start_nats_server`), stopped at the end of the test."""
    started: list[NatsServer] = []

    def start(config: str, jetstream: bool = True) -> NatsServer:
        server = start_nats_server(tmp_path, config, jetstream)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def make_tls_files(directory: Path) -> TlsFiles:
    """A throw-away CA and the server and client certificates it signs (valid one day)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("beholder test CA"))
        .issuer_name(_name("beholder test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(
        common_name: str, usage: x509.ObjectIdentifier, server: bool
    ) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), key

    files = TlsFiles(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server-key.pem",
        client_cert=directory / "client.pem",
        client_key=directory / "client-key.pem",
    )
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    server_pem, server_key = leaf("127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH, True)
    files.server_cert.write_bytes(server_pem)
    _write_key(files.server_key, server_key)
    client_pem, client_key = leaf("beholder-client", ExtendedKeyUsageOID.CLIENT_AUTH, False)
    files.client_cert.write_bytes(client_pem)
    _write_key(files.client_key, client_key)
    return files


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    """A CA with a server certificate for 127.0.0.1 and a client certificate (PEM files)."""
    directory = tmp_path / "tls"
    directory.mkdir()
    return make_tls_files(directory)
