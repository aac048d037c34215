"""deploy/systemd: ``systemd-analyze verify`` accepts the units with no warning (unknown keys
and bad values are only warnings to it, so any output fails), ``systemd-analyze security``
rates the service's exposure low, the hardening the deployment promises is set, and every
credential reaches Beholder through a real ``BEHOLDER_*_FILE`` variable."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.deploy_files import SYSTEMD, setting_variables, unknown_variables

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"
)

UNITS = ("beholder.service", "beholder-backup.service", "beholder-backup.timer")
INSTALLED = "/opt/beholder/.venv/bin/beholder"


def _beholder() -> str:
    """The ``beholder`` console script of the running venv (ExecStart must exist)."""
    script = Path(sys.executable).parent / "beholder"
    assert script.exists(), script
    return str(script)


def _copy_units(tmp_path: Path, beholder: str) -> list[Path]:
    # The units name the install path of docs/DEPLOY.md; verify checks that ExecStart is an
    # executable file, so point it at this venv's real script.
    paths = []
    for name in UNITS:
        text = (SYSTEMD / name).read_text(encoding="utf-8")
        assert INSTALLED in text or name.endswith(".timer")
        (tmp_path / name).write_text(text.replace(INSTALLED, beholder))
        paths.append(tmp_path / name)
    return paths


def _verify(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=paths[0].parent,
    )


def _service(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(SYSTEMD / name, encoding="utf-8")
    return parser


def test_systemd_analyze_verify_accepts_the_units_without_a_warning(tmp_path: Path) -> None:
    done = _verify(_copy_units(tmp_path, _beholder()))
    assert done.returncode == 0, done.stderr
    assert done.stdout + done.stderr == ""


def test_verify_reports_a_missing_binary_and_an_unknown_key(tmp_path: Path) -> None:
    # The check above can fail: what verify says about a broken copy.
    service = _copy_units(tmp_path, "/nonexistent/beholder")[0]
    done = _verify([service])
    assert done.returncode != 0
    assert "/nonexistent/beholder" in done.stderr
    service.write_text(
        service.read_text().replace("/nonexistent/beholder", _beholder())
        + "[Service]\nProtectHoem=yes\n"
    )
    assert "Unknown key 'ProtectHoem'" in _verify([service]).stderr


def test_security_exposure_of_the_service_is_low(tmp_path: Path) -> None:
    service = _copy_units(tmp_path, _beholder())[0]
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(service)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    match = re.search(r"Overall exposure level for \S+: ([\d.]+)", done.stdout)
    assert match, done.stdout + done.stderr
    # 0 = fully locked down, 10 = unprotected; systemd calls < 2 "OK".
    assert float(match.group(1)) < 2.0


def test_serve_unit_runs_beholder_serve_as_a_dynamic_user_with_the_hardening() -> None:
    service = _service("beholder.service")["Service"]
    assert service["ExecStart"] == f"{INSTALLED} serve"
    expected = {
        "DynamicUser": "yes",
        "StateDirectory": "beholder",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "SystemCallFilter": "@system-service",
        # Off: WebRTC live view needs W+X pages (tests/integration/test_deploy_mdwe.py).
        "MemoryDenyWriteExecute": None,
    }
    assert {k: service.get(k) for k in expected} == expected
    assert set(service["RestrictAddressFamilies"].split()) <= {
        "AF_UNIX",
        "AF_INET",
        "AF_INET6",
        "AF_NETLINK",
    }
    assert "BEHOLDER_DATA_DIR=%S/beholder" in _environment("beholder.service")


def _environment(name: str) -> list[str]:
    text = (SYSTEMD / name).read_text(encoding="utf-8")
    return re.findall(r"^Environment=(.*)$", text, re.M)


def _credentials(text: str) -> dict[str, str]:
    """``{credential id: variable}`` of each LoadCredential= and the variable naming %d/id."""
    ids = re.findall(r"^LoadCredential=([\w-]+):", text, re.M)
    variables = dict(
        (m.group(2), m.group(1))
        for m in re.finditer(r"^Environment=(BEHOLDER_\w+_FILE)=%d/([\w-]+)$", text, re.M)
    )
    assert set(ids) == set(variables), "every credential is named to Beholder, and only those"
    return {i: variables[i] for i in ids}


def test_every_credential_reaches_a_real_file_setting() -> None:
    texts = [(SYSTEMD / n).read_text() for n in UNITS]
    texts += [p.read_text() for p in (SYSTEMD / "beholder.service.d").iterdir()]
    found: dict[str, str] = {}
    for text in texts:
        found |= _credentials(text)
        assert unknown_variables(text) == set()
    assert found["admin_password"] == "BEHOLDER_ADMIN_PASSWORD_FILE"
    assert set(found.values()) <= setting_variables()
    assert {"BEHOLDER_SECRET_KEY_FILE", "BEHOLDER_DATABASE_URL_FILE"} <= set(found.values())


def test_backup_runs_as_the_same_user_on_the_same_data_dir_every_hour() -> None:
    serve, backup = _service("beholder.service"), _service("beholder-backup.service")
    for key in ("DynamicUser", "User", "Group", "WorkingDirectory"):
        assert backup["Service"][key] == serve["Service"][key], key
    assert "beholder" in backup["Service"]["StateDirectory"].split()
    assert "beholder backup " in backup["Service"]["ExecStart"]
    assert "BEHOLDER_DATA_DIR=%S/beholder" in _environment("beholder-backup.service")
    # Backup loads no WebRTC: it runs under MDWE (tests/integration/test_deploy_mdwe.py).
    assert backup["Service"]["MemoryDenyWriteExecute"] == "yes"
    timer = _service("beholder-backup.timer")["Timer"]
    assert timer["OnCalendar"] == "hourly"
    assert timer["Persistent"] == "true"
