"""deploy/compose.yaml: valid against the Compose Specification's JSON Schema (the copy
vendored in the ``check-jsonschema`` package, with its licence), the distributed topology it
promises, every secret given as a file where a ``*_FILE`` variable points, every variable a
real setting whose value Beholder accepts, health checks on real routes, and the NATS
configuration accepted by ``nats-server -t``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from beholder.config import load_settings
from support.deploy_files import (
    COMPOSE,
    NATS_CONF,
    NGINX_CONF,
    app_paths,
    unknown_variables,
    yaml_documents,
)

BEHOLDER_SERVICES = ("migrate", "api-1", "api-2", "worker-1", "worker-2")


def _compose() -> dict[str, Any]:
    return yaml_documents(COMPOSE)[0]


def _schema() -> dict[str, Any]:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads(vendor.joinpath("compose-spec.json").read_text("utf-8"))
    return schema


def _validator() -> jsonschema.protocols.Validator:
    schema = _schema()
    return jsonschema.validators.validator_for(schema)(schema)


def test_compose_file_is_valid_against_the_compose_spec_schema() -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in _validator().iter_errors(_compose())]
    assert errors == []


def test_the_schema_refuses_a_broken_compose_file() -> None:
    broken = _compose()
    broken["services"]["api-1"]["depends_on"]["nats"]["condition"] = "service_up"
    broken["services"]["worker-1"]["healthcheck"]["retires"] = 3
    messages = [e.message for e in _validator().iter_errors(broken)]
    assert any("service_up" in m for m in messages)
    assert any("retires" in m for m in messages)


def test_topology_postgres_nats_jetstream_two_apis_two_workers_and_a_proxy() -> None:
    services = _compose()["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    nats_command = " ".join(services["nats"]["command"])
    assert re.search(r"\bnats-server -js\b", nats_command)
    assert [n for n, s in services.items() if s.get("command") == ["api"]] == ["api-1", "api-2"]
    assert [n for n, s in services.items() if s.get("command") == ["worker"]] == [
        "worker-1",
        "worker-2",
    ]
    assert services["migrate"]["command"] == ["migrate"]
    assert set(services["proxy"]["ports"]) == {"443:443", "80:80"}
    # The proxy balances over exactly the api services, on the port they listen on.
    upstreams = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", NGINX_CONF.read_text(), re.M)
    assert upstreams == [
        (name, services[name]["environment"]["BEHOLDER_PORT"]) for name in ("api-1", "api-2")
    ]


def test_depends_on_conditions_are_backed_by_health_checks_or_one_shot_jobs() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        for target, dependency in service.get("depends_on", {}).items():
            condition = dependency["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits on {target}"
            else:
                assert condition == "service_completed_successfully"
                assert services[target]["restart"] == "no"
    for api in ("api-1", "api-2"):
        assert set(services[api]["depends_on"]) == {"migrate", "postgres", "nats"}


def _health_url(service: dict[str, Any]) -> str:
    test = " ".join(service["healthcheck"]["test"])
    match = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/]+)", test)
    assert match, test
    return match.group(0)


def test_health_checks_hit_real_routes_and_ports() -> None:
    services = _compose()["services"]
    for name in ("api-1", "api-2"):
        env = services[name]["environment"]
        url = _health_url(services[name])
        assert url == f"http://127.0.0.1:{env['BEHOLDER_PORT']}/api/system/ready"
        assert "/api/system/ready" in app_paths()
    for name in ("worker-1", "worker-2"):
        env = services[name]["environment"]
        assert _health_url(services[name]).startswith(
            f"http://127.0.0.1:{env['BEHOLDER_WORKER_METRICS_PORT']}/"
        )
        assert env["BEHOLDER_WORKER_METRICS_HOST"] == "0.0.0.0"


def test_secrets_are_files_mounted_where_the_file_variables_point() -> None:
    compose = _compose()
    defined = compose["secrets"]
    for name in BEHOLDER_SERVICES:
        service = compose["services"][name]
        mounted = set(service["secrets"])
        assert mounted <= set(defined)
        for variable, value in service["environment"].items():
            assert not re.search(r"PASSWORD$|SECRET_KEY$|TOKEN$|DATABASE_URL$", variable), (
                f"{name}: {variable} is a secret in the environment; use {variable}_FILE"
            )
            if variable.endswith("_FILE"):
                path = Path(value)
                assert path.parent == Path("/run/secrets"), value
                assert path.name in mounted, f"{name}: {variable} -> unmounted {value}"
    for secret in defined.values():
        assert secret["file"].startswith("./secrets/")
    proxy_files = set(re.findall(r"/run/secrets/(\w+)", NGINX_CONF.read_text()))
    assert proxy_files == set(compose["services"]["proxy"]["secrets"])


def test_every_variable_is_a_real_setting() -> None:
    assert unknown_variables(COMPOSE.read_text(encoding="utf-8")) == set()


_SECRET_VALUES = {
    "database_url": "postgresql+asyncpg://beholder:compose-db-pass@postgres:5432/beholder",
    "secret_key": "k" * 48,
    "admin_password": "a-compose-admin-passphrase",
    "metrics_token": "compose-metrics-token",
    "nats_password": "compose-nats-pass",
}


@pytest.mark.parametrize("name", BEHOLDER_SERVICES)
def test_beholder_accepts_every_value_of_the_service(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The settings a container would start with: its environment, secrets as files.
    for variable in [v for v in os.environ if v.startswith("BEHOLDER_")]:
        monkeypatch.delenv(variable)
    service = _compose()["services"][name]
    for variable, value in service["environment"].items():
        if variable.endswith("_FILE"):
            secret = tmp_path / Path(value).name
            secret.write_text(_SECRET_VALUES[Path(value).name] + "\n")
            value = str(secret)
        monkeypatch.setenv(variable, str(value))
    settings = load_settings()
    assert settings.bus.url == "nats://nats:4222"
    assert settings.bus.password is not None
    assert settings.bus.password.get_secret_value() == _SECRET_VALUES["nats_password"]
    if service["command"] != ["worker"]:
        assert settings.resolved_database_url == _SECRET_VALUES["database_url"]
        assert settings.host == "0.0.0.0"


_NATS_PATH = str(Path(shutil.which("nats-server") or "/usr/bin/nats-server").parent)


@pytest.mark.skipif(shutil.which("nats-server") is None, reason="nats-server not installed")
def test_nats_server_accepts_the_configuration(tmp_path: Path) -> None:
    config = tmp_path / "nats-server.conf"
    config.write_text(NATS_CONF.read_text().replace("/data/jetstream", str(tmp_path / "js")))
    ok = subprocess.run(
        ["nats-server", "-js", "-c", str(config), "-t"],
        env={"BUS_PASSWORD": "compose-nats-pass", "PATH": _NATS_PATH},
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    # The check can fail: without the password variable the config does not parse.
    missing = subprocess.run(
        ["nats-server", "-js", "-c", str(config), "-t"],
        env={"PATH": _NATS_PATH},
        capture_output=True,
        text=True,
    )
    assert missing.returncode != 0
    assert "BUS_PASSWORD" in missing.stdout + missing.stderr


def test_the_nats_password_reaches_server_and_clients_from_one_file() -> None:
    services = _compose()["services"]
    assert "/run/secrets/nats_password" in " ".join(services["nats"]["command"])
    assert "$BUS_PASSWORD" in NATS_CONF.read_text()
    for name in BEHOLDER_SERVICES:
        env = services[name]["environment"]
        assert env["BEHOLDER_BUS_PASSWORD_FILE"] == "/run/secrets/nats_password"
        assert env["BEHOLDER_BUS_USER"] == "beholder"
    assert re.search(r"user:\s*beholder\b", NATS_CONF.read_text())


def test_schema_file_carries_its_licence() -> None:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    licence = vendor.joinpath("licenses", "LICENSE.compose-spec").read_text("utf-8")
    assert "Apache License" in licence
    assert yaml.safe_load(json.dumps(_schema()))["$schema"].startswith("http")
