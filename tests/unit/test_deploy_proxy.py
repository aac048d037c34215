"""deploy/proxy/nginx.conf: accepted by the real ``nginx -t`` (Debian's nginx-light, installed
by ``make test``) with a generated certificate in place of the compose secrets, and routing
what Beholder serves: every WebSocket route upgraded, MJPEG unbuffered, /metrics not exposed."""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support.deploy_files import NGINX_CONF, app_paths

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
needs_nginx = pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx not installed")


def _certificate(directory: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "beholder.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (directory / "tls_cert").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "tls_key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _nginx_test(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    secrets = tmp_path / "secrets"
    secrets.mkdir(exist_ok=True)
    _certificate(secrets)
    # The compose secrets' mount point becomes the temp dir; the compose service names
    # (resolved by Docker's DNS in a real run) become the loopback so that -t can resolve them.
    text = text.replace("/tmp/", f"{tmp_path}/").replace("/run/secrets/", f"{secrets}/")
    text = re.sub(r"\bserver (api-\d+):", "server 127.0.0.1:", text)
    config = tmp_path / "nginx.conf"
    config.write_text(text)
    return subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(config)],
        capture_output=True,
        text=True,
    )


@needs_nginx
def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    done = _nginx_test(tmp_path, NGINX_CONF.read_text(encoding="utf-8"))
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr
    assert "[warn]" not in done.stderr, done.stderr


@needs_nginx
def test_nginx_refuses_a_broken_configuration(tmp_path: Path) -> None:
    # The check above can fail: a misspelt directive is refused.
    text = NGINX_CONF.read_text(encoding="utf-8").replace(
        "proxy_buffering off", "proxy_bufering off"
    )
    done = _nginx_test(tmp_path, text)
    assert done.returncode != 0
    assert "proxy_bufering" in done.stderr


def test_every_websocket_route_is_upgraded_and_only_real_routes_are_named() -> None:
    text = NGINX_CONF.read_text(encoding="utf-8")
    (alternatives,) = re.findall(r"location ~ \^/\(([^)]*)\)\$", text)
    upgraded = {"/" + a for a in alternatives.split("|")}
    assert upgraded == {"/ws", "/api/streams/ws", "/api/nvrs/ws"}
    assert upgraded <= app_paths()
    for exact in re.findall(r"location = (\S+)", text):
        assert exact in app_paths(), exact
    assert "/api/cameras/{camera_id}/mjpeg" in app_paths()
    assert re.search(
        r"location ~ \^/api/cameras/\[\^/\]\+/mjpeg\$ \{[^}]*proxy_buffering off", text
    )


def test_tls_only_with_redirect_and_hsts() -> None:
    text = NGINX_CONF.read_text(encoding="utf-8")
    assert re.search(r"listen 80;[\s\S]*return 308 https://", text)
    assert re.search(r"listen 443 ssl;", text)
    assert 'Strict-Transport-Security "max-age=31536000"' in text
    assert re.search(r"location = /metrics \{\s*return 404;", text)
