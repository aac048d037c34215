"""Every ``BEHOLDER_*`` variable named in a deployment file or in docs/DEPLOY.md is one the
settings tree reads (introspected from ``beholder.config``: each section's fields and the
``_FILE`` variant of each secret), and every deploy file the page names exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from support.deploy_files import (
    DEPLOY,
    DEPLOY_DOC,
    ROOT,
    setting_variables,
    unknown_variables,
)

FILES = sorted(
    p
    for p in DEPLOY.rglob("*")
    if p.is_file()
    and "secrets" not in p.parts
    # deploy/prometheus and deploy/grafana have their own tests (metrics, rules).
    and not {"prometheus", "grafana"} & set(p.relative_to(DEPLOY).parts)
)


def test_the_check_knows_the_settings_and_refuses_an_invented_one() -> None:
    known = setting_variables()
    assert {"BEHOLDER_HOST", "BEHOLDER_WORKER_METRICS_PORT", "BEHOLDER_BUS_USER"} <= known
    assert {"BEHOLDER_SECRET_KEY_FILE", "BEHOLDER_BUS_PASSWORD_FILE"} <= known
    # Only secrets have a _FILE variant; a misspelt name is unknown.
    assert unknown_variables("BEHOLDER_HOST_FILE BEHOLDER_DATABSE_URL") == {
        "BEHOLDER_HOST_FILE",
        "BEHOLDER_DATABSE_URL",
    }


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_variable_in_the_deploy_files_is_a_real_setting(path: Path) -> None:
    assert unknown_variables(path.read_text(encoding="utf-8")) == set()


def test_every_variable_in_the_deploy_guide_is_a_real_setting() -> None:
    assert unknown_variables(DEPLOY_DOC.read_text(encoding="utf-8")) == set()


def test_every_file_the_guide_names_exists() -> None:
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:deploy|tests|bench)/[\w./-]+?)`", text))
    assert named
    for name in named:
        if "{" in name or name.endswith("test_deploy_*.py"):
            continue
        if name.startswith("deploy/secrets") or name.startswith("deploy/k8s/secrets"):
            continue
        assert (ROOT / name).exists(), name
