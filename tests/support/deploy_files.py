"""What the deployment-file tests share: where the files are, the real settings and routes of
the app they must name, and the repository's Makefile targets.

Every check of deploy/ compares a file with the code it configures (settings introspected
from ``beholder.config``, routes from the app factory, targets from ``make``), so a renamed
variable, route or target fails a test instead of a deployment."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from starlette.routing import BaseRoute

from beholder.config.file_values import FILE_SUFFIX, secret_fields
from beholder.config.loading import env_name, env_variables
from beholder.config.settings import SECTIONS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
K8S = DEPLOY / "k8s"
SYSTEMD = DEPLOY / "systemd"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
NGINX_CONF = DEPLOY / "proxy" / "nginx.conf"
NATS_CONF = DEPLOY / "nats" / "nats-server.conf"
DEPLOY_DOC = ROOT / "docs" / "DEPLOY.md"

BEHOLDER_VARIABLE = re.compile(r"\bBEHOLDER_[A-Z0-9_]*[A-Z0-9]\b")
"""A ``BEHOLDER_*`` variable name in any text (a trailing ``_`` is a prefix in prose)."""

NOT_SETTINGS = frozenset({"BEHOLDER_NVR_API_KEY"})
"""Variables read outside the settings tree (``beholder nvr-agent``'s key, cli.py)."""


@cache
def setting_variables() -> frozenset[str]:
    """Every variable the settings tree reads: each field's ``BEHOLDER_*`` name, and the
    ``_FILE`` variant of every secret field (config/file_values.py)."""
    names = {name for name, _model, _field in env_variables()}
    for model in SECTIONS:
        names |= {env_name(model, field) + FILE_SUFFIX for field in secret_fields(model)}
    return frozenset(names | NOT_SETTINGS)


def unknown_variables(text: str) -> set[str]:
    """The ``BEHOLDER_*`` names in ``text`` that no setting reads."""
    return set(BEHOLDER_VARIABLE.findall(text)) - setting_variables()


@cache
def app_paths() -> frozenset[str]:
    """Every route path of the app: the OpenAPI paths (the REST API), the plain routes
    (``/ws``, ``/api/streams/ws``, ``/api/nvrs/ws``) and ``/metrics`` (outside the schema)."""
    from beholder.api.app import create_app
    from beholder.api.routers.system import metrics_router
    from beholder.config import Settings

    app = create_app(Settings(data_dir=Path("/nonexistent/beholder-deploy-tests")))
    routes: list[BaseRoute] = [*app.routes, *metrics_router.routes]
    plain = {str(getattr(r, "path", "")) for r in routes} - {""}
    return frozenset(plain | set(app.openapi()["paths"]))


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of ``path`` (empty ones skipped)."""
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def make_variable(name: str) -> str:
    """The value of the Makefile variable ``name`` as make expands it."""
    out = subprocess.run(
        ["make", "--no-print-directory", "-s", "--eval", "print-%: ; @echo $($*)", f"print-{name}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def make_has_target(target: str) -> bool:
    """True when ``make -n target`` knows the target (a dry run: nothing is executed)."""
    out = subprocess.run(
        ["make", "--no-print-directory", "-n", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return out.returncode == 0 and "No rule to make target" not in out.stderr
