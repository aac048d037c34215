"""Issue 9, finding 5: the NATS bus of distributed mode is authenticated.

A private ``nats-server`` is started with each kind of credentials Beholder supports
(user/password, token, nkey seed, TLS with a client certificate); the app started with the
matching ``BusSettings`` gets a worker's alert end to end (published on the bus, persisted
by the api's consumer, listed by ``/api/alerts``). ``beholder serve`` with wrong or missing
credentials exits 1 at start-up with one line that names the bus step and no secret."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nkeys
import pytest

from beholder.bus.nats import NatsBus
from beholder.config import BusSettings
from beholder.messages import DetectedFace, FaceDetectionAlert, Subjects
from support.api import live_api
from support.nats import NatsServer, TlsFiles
from support.polling import eventually
from support.settings import free_port, make_settings

PASSWORD = "bus-password-Ue8r"
TOKEN = "bus-token-Zq4w0Xx"


def _nkey(tmp_path: Path) -> tuple[str, Path]:
    """A user nkey: its public key (for the server) and a file holding its seed."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    public = nkeys.from_seed(bytearray(seed)).public_key.decode()
    seed_file = tmp_path / "user.nk"
    seed_file.write_bytes(seed)
    seed_file.chmod(0o600)
    return public, seed_file


def _setup(kind: str, tmp_path: Path, tls: TlsFiles) -> tuple[str, dict[str, Any]]:
    """(server configuration, ``BusSettings`` fields) for a kind of authentication."""
    if kind == "user-password":
        return (
            f'authorization {{ user: "beholder", password: "{PASSWORD}" }}',
            {"user": "beholder", "password": PASSWORD},
        )
    if kind == "token":
        return f'authorization {{ token: "{TOKEN}" }}', {"token": TOKEN}
    if kind == "nkey":
        public, seed_file = _nkey(tmp_path)
        return (
            f'authorization {{ users: [ {{ nkey: "{public}" }} ] }}',
            {"nkey_seed_file": seed_file},
        )
    assert kind == "tls-client-cert+token"
    return (
        f'tls {{ cert_file: "{tls.server_cert}", key_file: "{tls.server_key}", '
        f'ca_file: "{tls.ca}", verify: true, timeout: 2 }}\n'
        f'authorization {{ token: "{TOKEN}" }}',
        {
            "token": TOKEN,
            "tls_ca_file": tls.ca,
            "tls_cert_file": tls.client_cert,
            "tls_key_file": tls.client_key,
        },
    )


KINDS = ["user-password", "token", "nkey", "tls-client-cert+token"]


@pytest.mark.parametrize("kind", KINDS)
async def test_the_right_credentials_carry_an_alert_end_to_end(
    kind: str,
    tmp_path: Path,
    nats_server: Callable[[str], NatsServer],
    tls_files: TlsFiles,
) -> None:
    config, fields = _setup(kind, tmp_path, tls_files)
    server = nats_server(config)
    bus_settings = BusSettings(url=server.url, **fields)
    async with live_api(make_settings(tmp_path, bus=bus_settings)) as api:
        r = await api.client.post(
            "/api/cameras",
            json={"name": "Gate", "rtspUrl": "rtsp://10.0.0.9/live"},
            headers=await api.headers("operator"),
        )
        cam = r.json()["id"]
        worker = NatsBus(bus_settings)
        await worker.start()
        try:
            alert = FaceDetectionAlert(
                camera_id=cam, faces=[DetectedFace(box=(1, 2, 3, 4), confidence=0.8)]
            )
            await worker.publish(Subjects.CAMERA_EVENTS, alert.to_bytes())
            viewer = await api.headers("viewer")

            async def listed() -> list[str]:
                r = await api.client.get(f"/api/alerts?cameraId={cam}", headers=viewer)
                return [a["id"] for a in r.json()["items"]]

            assert await eventually(listed, 15, "the alert through the api") == [alert.id]
        finally:
            await worker.close()
        admin = await api.headers("admin")

        async def bus_healthy() -> bool:
            # One ping slower than 100 ms reads DEGRADED by design (CI once caught a 114 ms
            # round trip while the whole event loop stalled: the database read 120 ms too);
            # with the right credentials the bus must come to HEALTHY.
            health = await api.client.get("/api/system/health", headers=admin)
            return bool(health.json()["services"]["bus"]["status"] == "HEALTHY")

        await eventually(bus_healthy, 15, "the bus to be HEALTHY")


def _serve(tmp_path: Path, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
    env.update(
        BEHOLDER_DATA_DIR=str(tmp_path / "data"),
        BEHOLDER_PORT=str(free_port()),
        BEHOLDER_RUN_WORKER="false",
        BEHOLDER_LOG_FORMAT="json",
        BEHOLDER_ADMIN_PASSWORD="admin-password-1",
        **env_extra,
    )
    return subprocess.run(
        [sys.executable, "-m", "beholder", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


WRONG = {
    "wrong-password": {"BEHOLDER_BUS_USER": "beholder", "BEHOLDER_BUS_PASSWORD": "not-it-9Fx"},
    "missing": {},
    "wrong-token-over-tls": {"BEHOLDER_BUS_TOKEN": "not-the-token-7Hy"},
    "unknown-ca": {"BEHOLDER_BUS_TOKEN": TOKEN},
}


@pytest.mark.parametrize("case", list(WRONG))
def test_wrong_or_missing_credentials_stop_serve_with_one_line(
    case: str,
    tmp_path: Path,
    nats_server: Callable[[str], NatsServer],
    tls_files: TlsFiles,
) -> None:
    env = dict(WRONG[case])
    if case in ("wrong-token-over-tls", "unknown-ca"):
        config, _ = _setup("tls-client-cert+token", tmp_path, tls_files)
        env.update(
            BEHOLDER_BUS_TLS_CERT_FILE=str(tls_files.client_cert),
            BEHOLDER_BUS_TLS_KEY_FILE=str(tls_files.client_key),
        )
        if case == "unknown-ca":
            other = tmp_path / "other-tls"
            other.mkdir()
            from support.nats import make_tls_files

            env["BEHOLDER_BUS_TLS_CA_FILE"] = str(make_tls_files(other).ca)
        else:
            env["BEHOLDER_BUS_TLS_CA_FILE"] = str(tls_files.ca)
    else:
        config, _ = _setup("user-password", tmp_path, tls_files)
    server = nats_server(config)
    env["BEHOLDER_BUS_URL"] = server.url
    proc = _serve(tmp_path, env)
    assert proc.returncode == 1, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if '"level": "error"' in line]
    assert len(errors) == 1, errors
    assert '"event": "start-up failed"' in errors[0] and '"step": "bus"' in errors[0]
    if case == "unknown-ca":
        assert "CERTIFICATE_VERIFY_FAILED" in errors[0], errors[0]
    else:
        assert "the server refused the credentials" in errors[0], errors[0]
    assert "Traceback" not in proc.stderr
    for secret in (PASSWORD, TOKEN, "not-it-9Fx", "not-the-token-7Hy"):
        assert secret not in proc.stderr + proc.stdout
