"""HTTPS for ``beholder serve|api``: the certificate in force, a generated local CA, and the
plain-HTTP listener that redirects to https.

``self-signed`` mode keeps under ``<data_dir>/tls`` (directory 0700, keys 0600):
``ca.pem``/``ca.key`` (a local CA, EC P-256, 10 years; install ``ca.pem`` on a phone to trust
the server) and ``server.pem``/``server.key`` (signed by that CA, 825 days, the most iOS
accepts, for every name and address of this machine; ``server.pem`` holds the leaf then the
CA, the chain the server sends). Both are reused on later runs; the
server certificate is re-issued (same CA) when it expires within 30 days or when this
machine gained a name or address it does not cover.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import psutil
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from beholder.config import Settings
from beholder.errors import InvalidInput
from beholder.files import ensure_private_dir, write_private_file

log = structlog.get_logger(__name__)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_CA_DAYS = 3650
_SERVER_DAYS = 825
_RENEW_BEFORE = dt.timedelta(days=30)


class TlsSetupError(InvalidInput):
    """The certificate or key cannot be used (missing, unreadable, not matching)."""


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files uvicorn serves with; ``ca``/``ca_spki`` only in self-signed mode.

    ``ca_spki``: base64 SHA-256 of the CA's SubjectPublicKeyInfo (the form of Chromium's
    ``--ignore-certificate-errors-spki-list``); ``server_spki`` the same for ``cert``."""

    cert: Path
    key: Path
    server_spki: str
    ca: Path | None = None
    ca_spki: str | None = None
    issued: bool = False
    """True when this run generated (or re-issued) the server certificate."""


def spki_fingerprint(cert: x509.Certificate) -> str:
    """Base64 SHA-256 of ``cert``'s DER SubjectPublicKeyInfo (44 characters)."""
    der = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")


def machine_names() -> tuple[list[str], list[IpAddress]]:
    """``(dns names, addresses)`` this machine answers to: its host name (and FQDN),
    ``localhost``, ``127.0.0.1``, ``::1`` and every non-loopback, non-link-local address of
    its interfaces."""
    names = ["localhost"]
    for name in (socket.gethostname(), socket.getfqdn()):
        if name and name not in names and not _is_ip(name):
            names.append(name)
    addrs: list[IpAddress] = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            try:
                addr = ipaddress.ip_address(entry.address.split("%", 1)[0])
            except ValueError:
                continue
            if addr.is_loopback or addr.is_link_local or addr in addrs:
                continue
            addrs.append(addr)
    return names, addrs


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def resolve_tls(settings: Settings) -> TlsFiles | None:
    """The files to serve with under ``settings.tls`` (None when TLS is off), generating
    the self-signed ones if needed. Raises :class:`TlsSetupError` when the files cannot be
    loaded as a certificate chain and its key."""
    tls = settings.tls
    if tls.mode == "off":
        return None
    if tls.mode == "self-signed":
        files = ensure_self_signed(settings.data_dir / "tls")
    else:
        assert tls.cert is not None and tls.key is not None  # the settings' validator
        try:
            cert = x509.load_pem_x509_certificate(tls.cert.read_bytes())
        except (OSError, ValueError) as exc:
            raise TlsSetupError(detail=f"cannot read certificate {tls.cert}: {exc}") from exc
        files = TlsFiles(cert=tls.cert, key=tls.key, server_spki=spki_fingerprint(cert))
    try:  # what uvicorn will do: fail here, before anything starts, with one clear line
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(files.cert, files.key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(detail=f"cannot load {files.cert} with key {files.key}: {exc}") from exc
    return files


def ensure_self_signed(folder: Path) -> TlsFiles:
    """The local CA and server certificate under ``folder``: loaded when present and still
    good for this machine, else generated (see the module docstring)."""
    ensure_private_dir(folder)
    ca_pem, ca_key_path = folder / "ca.pem", folder / "ca.key"
    cert_pem, key_path = folder / "server.pem", folder / "server.key"
    if ca_pem.exists() and ca_key_path.exists():
        ca_cert = x509.load_pem_x509_certificate(ca_pem.read_bytes())
        loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise TlsSetupError(detail=f"{ca_key_path} is not an EC key")
        ca_key = loaded
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _issue_ca(ca_key)
        write_private_file(folder, "ca.key", _key_pem(ca_key))
        write_private_file(folder, "ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM))
        cert_pem.unlink(missing_ok=True)  # a new CA: the old server certificate is orphaned
    names, addrs = machine_names()
    issued = False
    if not _server_cert_good(cert_pem, key_path, ca_cert, names, addrs):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue_server(key, ca_key, ca_cert, names, addrs)
        write_private_file(folder, "server.key", _key_pem(key))
        # the chain as served: the leaf, then the CA (so a client pinning the CA's key, e.g.
        # Chromium's --ignore-certificate-errors-spki-list, finds it in the handshake)
        chain = cert.public_bytes(serialization.Encoding.PEM)
        chain += ca_cert.public_bytes(serialization.Encoding.PEM)
        write_private_file(folder, "server.pem", chain)
        issued = True
        log.info(
            "tls certificate issued",
            path=str(cert_pem),
            names=names,
            addresses=[str(a) for a in addrs],
        )
    server = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    return TlsFiles(
        cert=cert_pem,
        key=key_path,
        server_spki=spki_fingerprint(server),
        ca=ca_pem,
        ca_spki=spki_fingerprint(ca_cert),
        issued=issued,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _server_cert_good(
    cert_pem: Path, key_path: Path, ca: x509.Certificate, names: list[str], addrs: list[IpAddress]
) -> bool:
    if not (cert_pem.exists() and key_path.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    if cert.issuer != ca.subject:
        return False
    if cert.not_valid_after_utc - _RENEW_BEFORE < dt.datetime.now(dt.UTC):
        return False
    have_names = set(san.get_values_for_type(x509.DNSName))
    have_addrs = set(san.get_values_for_type(x509.IPAddress))
    return set(names) <= have_names and set(addrs) <= have_addrs


def _issue_ca(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Beholder"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Beholder local CA ({socket.gethostname()})"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _issue_server(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    names: list[str],
    addrs: list[IpAddress],
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(a) for a in addrs]
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[-1])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


# -- the plain-HTTP redirect listener -------------------------------------------------------

_MAX_HEAD = 8192


def redirect_location(target: str, host_header: str | None, fallback_host: str, port: int) -> str:
    """The https URL for request-target ``target`` (origin form, e.g. ``/a?b``) sent with
    ``Host: host_header`` to the redirect port; ``port`` is the TLS port (omitted if 443)."""
    host = (host_header or fallback_host).strip()
    if host.startswith("["):  # [v6]:port
        host = host[: host.find("]") + 1] if "]" in host else fallback_host
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    elif ":" in host:  # a bare IPv6 address (not valid in Host, but be kind)
        host = f"[{host}]"
    if not host or any(c in host for c in " /\\@?#"):
        host = fallback_host
    path = target if target.startswith("/") else "/"
    suffix = "" if port == 443 else f":{port}"
    return f"https://{host}{suffix}{path}"


async def start_redirect_listener(host: str, port: int, tls_port: int) -> asyncio.Server:
    """Listen on ``host:port`` (plain HTTP) and answer every request ``308`` to the same
    path on ``https://<Host>:<tls_port>``, then close the connection. Returns the server;
    the caller closes it."""
    fallback = f"[{host}]" if ":" in host else host

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            lines = head[:_MAX_HEAD].decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            target = parts[1] if len(parts) == 3 else "/"
            host_header = next(
                (ln.split(":", 1)[1] for ln in lines[1:] if ln.lower().startswith("host:")),
                None,
            )
            location = redirect_location(target, host_header, fallback, tls_port)
            writer.write(
                b"HTTP/1.1 308 Permanent Redirect\r\nlocation: "
                + location.encode("latin-1", "replace")
                + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port, limit=_MAX_HEAD)
