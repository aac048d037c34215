"""HTTPS and WSS end to end (issue 14 item 1): a real ``beholder serve`` with ``--tls
self-signed`` or the test's own certificate, reached by real TLS clients (httpx, websockets)
that trust only the CA in question."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import websockets

from beholder.files import mode_of
from beholder.tls import ensure_self_signed
from support.tls import ADMIN_PASSWORD, free_port, make_test_ca, serve, serve_env, trust

pytestmark = pytest.mark.timeout(180)

HEALTH = "/api/system/health"


def _base(port: int) -> str:
    return f"https://127.0.0.1:{port}"


async def _hub_over_wss(port: int, ca: Path) -> None:
    async with httpx.AsyncClient(base_url=_base(port), verify=trust(ca)) as client:
        r = await client.post(
            "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert r.status_code == 200, r.text
        token = r.json()["accessToken"]
    ctx = trust(ca)
    async with websockets.connect(f"wss://127.0.0.1:{port}/ws", ssl=ctx) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "auth-ok"


def test_self_signed_serves_https_wss_and_reuses_its_certificate(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ca = data / "tls" / "ca.pem"
    redirect = free_port()
    with serve(data, ["--tls", "self-signed", "--tls-redirect-port", str(redirect)], ca=ca) as srv:
        ca_spki = srv.line("TLS CA SPKI sha256 fingerprint:")
        assert len(ca_spki) == 44 and ca_spki.endswith("=")
        assert srv.line("TLS CA to install on phones and browsers:") == str(ca)
        assert srv.line("TLS self-signed certificate issued:").startswith(str(ca.parent))
        assert srv.line("Beholder serve listening on") == f"https://127.0.0.1:{srv.port}"

        # HTTPS with the generated CA, HSTS on every response
        r = httpx.get(_base(srv.port) + HEALTH, verify=trust(ca))
        assert r.status_code == 200 and r.json()["ready"] is True
        assert r.headers["strict-transport-security"] == "max-age=31536000"
        # the name, not only the address, is covered
        assert httpx.get(f"https://localhost:{srv.port}{HEALTH}", verify=trust(ca)).is_success

        # another CA is not trusted
        other = ensure_self_signed(tmp_path / "other")
        assert other.ca is not None
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(_base(srv.port) + HEALTH, verify=trust(other.ca))

        # plain HTTP on the TLS port gets no answer
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{srv.port}{HEALTH}", timeout=5)

        # the redirect port: 308 to the same path over https
        r = httpx.get(f"http://127.0.0.1:{redirect}/cameras?x=1", timeout=5)
        assert r.status_code == 308
        assert r.headers["location"] == f"https://127.0.0.1:{srv.port}/cameras?x=1"
        r = httpx.get(
            f"http://localhost:{redirect}{HEALTH}", follow_redirects=True, verify=trust(ca)
        )
        assert r.status_code == 200 and str(r.url) == f"https://localhost:{srv.port}{HEALTH}"

        # the dashboard hub over WSS
        asyncio.run(_hub_over_wss(srv.port, ca))

        for name in ("ca.key", "server.key", "ca.pem", "server.pem"):
            assert mode_of(data / "tls" / name) == 0o600, name
        assert mode_of(data / "tls") == 0o700
        first = {n: (data / "tls" / n).read_bytes() for n in ("ca.pem", "server.pem")}

    with serve(data, ["--tls", "self-signed"], ca=ca) as srv:
        assert srv.line("TLS CA SPKI sha256 fingerprint:") == ca_spki
        assert srv.line("TLS self-signed certificate reused:")
        assert {n: (data / "tls" / n).read_bytes() for n in first} == first
        assert httpx.get(_base(srv.port) + HEALTH, verify=trust(ca)).is_success


def test_own_certificate_from_variables(tmp_path: Path) -> None:
    own = make_test_ca(tmp_path / "pki")
    with serve(
        tmp_path / "data",
        [],
        ca=own.ca,
        BEHOLDER_TLS_CERT=str(own.cert),
        BEHOLDER_TLS_KEY=str(own.key),
    ) as srv:
        r = httpx.get(_base(srv.port) + HEALTH, verify=trust(own.ca))
        assert r.status_code == 200 and "strict-transport-security" in r.headers
        assert not (tmp_path / "data" / "tls").exists()
        asyncio.run(_hub_over_wss(srv.port, own.ca))


def test_own_certificate_from_flags(tmp_path: Path) -> None:
    own = make_test_ca(tmp_path / "pki")
    args = ["--tls-cert", str(own.cert), "--tls-key", str(own.key)]
    with serve(tmp_path / "data", args, ca=own.ca) as srv:
        assert httpx.get(f"https://localhost:{srv.port}{HEALTH}", verify=trust(own.ca)).is_success


def test_plain_http_has_no_hsts(tmp_path: Path) -> None:
    with serve(tmp_path / "data", [], ca=None) as srv:
        r = httpx.get(f"http://127.0.0.1:{srv.port}{HEALTH}")
        assert r.status_code == 200 and "strict-transport-security" not in r.headers


def test_a_key_that_does_not_match_stops_start_up(tmp_path: Path) -> None:
    own = make_test_ca(tmp_path / "pki")
    other = make_test_ca(tmp_path / "other")
    port = free_port()
    proc = subprocess.run(
        [sys.executable, "-m", "beholder", "serve", "--tls-cert", str(own.cert)],
        env=serve_env(tmp_path / "data", port, BEHOLDER_TLS_KEY=str(other.key)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if '"level": "error"' in ln]
    assert len(errors) == 1 and '"step": "tls"' in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def test_half_a_pair_is_a_usage_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "beholder", "serve", "--tls-key", "/nope.pem"],
        env=serve_env(tmp_path / "data", free_port()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "BEHOLDER_TLS_CERT and BEHOLDER_TLS_KEY go together" in proc.stderr


def test_a_taken_redirect_port_stops_start_up(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = str(taken.getsockname()[1])
        proc = subprocess.run(
            [sys.executable, "-m", "beholder", "serve", "--tls", "self-signed"],
            env=serve_env(tmp_path / "data", free_port(), BEHOLDER_TLS_REDIRECT_PORT=busy),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if '"level": "error"' in ln]
    assert len(errors) == 1 and '"step": "tls-redirect"' in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
