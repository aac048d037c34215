"""The shipped Prometheus files are valid and every alert rule is unit-tested with promtool.

``promtool`` is Debian's (package ``prometheus``, in the Makefile's ``APT_PACKAGES``). The rule
behaviour itself is in ``deploy/prometheus/tests/*.yml``; this module runs them and checks
that each alert has a case where it fires and one where it must stay quiet, and that its
labels and runbook link are what an on-call person relies on.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.prometheus import ALERTS_FILE, CONFIG_FILE, DEPLOY, PROMTOOL, REPO

pytestmark = pytest.mark.skipif(
    not Path(PROMTOOL).exists(), reason="promtool missing (apt-get install prometheus)"
)

RULE_TESTS = sorted((DEPLOY / "tests").glob("*.yml"))
OPERATIONS = REPO / "docs" / "OPERATIONS.md"
REQUIRED = {
    # issue 14 item 4: the report's table, then what a camera system needs
    "BeholderHighErrorRate",
    "BeholderServiceUnhealthy",
    "BeholderHighLatency",
    "BeholderBusConsumerLag",
    "BeholderDbPoolSaturated",
    "BeholderCameraInError",
    "BeholderDetectorDroppingSamples",
    "BeholderNoWorkerHeartbeat",
    "BeholderLiveViewFailures",
    "BeholderSnapshotDiskFull",
}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=120, cwd=DEPLOY
    )


def _alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS_FILE.read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_accepts_the_config_and_its_rule_file() -> None:
    res = _promtool("check", "config", str(CONFIG_FILE))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 rule files found" in res.stdout + res.stderr


def test_promtool_accepts_the_rules() -> None:
    res = _promtool("check", "rules", str(ALERTS_FILE))
    assert res.returncode == 0, res.stdout + res.stderr


def test_every_rule_unit_test_passes() -> None:
    assert RULE_TESTS, "no promtool rule tests in deploy/prometheus/tests"
    res = _promtool("test", "rules", *map(str, RULE_TESTS))
    assert res.returncode == 0, res.stdout + res.stderr


def test_promtool_test_rules_fails_on_a_wrong_expectation(tmp_path: Path) -> None:
    """The harness can fail: a case expecting the wrong severity is reported as such."""
    bad = tmp_path / "bad_test.yml"
    bad.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(ALERTS_FILE)],
                "evaluation_interval": "15s",
                "tests": [
                    {
                        "interval": "15s",
                        "input_series": [
                            {
                                "series": 'beholder_health_check_failures{service="bus"}',
                                "values": "3x4",
                            }
                        ],
                        "alert_rule_test": [
                            {
                                "eval_time": "30s",
                                "alertname": "BeholderServiceUnhealthy",
                                "exp_alerts": [
                                    {"exp_labels": {"severity": "ticket", "service": "bus"}}
                                ],
                            }
                        ],
                    }
                ],
            }
        )
    )
    res = _promtool("test", "rules", str(bad))
    assert res.returncode != 0
    assert "BeholderServiceUnhealthy" in res.stdout + res.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {r["alert"] for r in _alert_rules()}
    assert names >= REQUIRED
    assert names - fires == set(), "alerts never seen firing in a promtool test"
    assert names - quiet == set(), "alerts never checked to stay quiet in a promtool test"


def test_every_alert_is_routable_and_links_its_runbook() -> None:
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", m.group(1).strip().lower()).replace(" ", "-")
        for m in re.finditer(r"^#+\s+(.+)$", OPERATIONS.read_text(), re.M)
    }
    for rule in _alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("page", "ticket"), name
        notes = rule["annotations"]
        assert notes["summary"] and notes["description"], name
        path, _, anchor = notes["runbook_url"].partition("#")
        assert path == "docs/OPERATIONS.md", name
        assert anchor == name.lower() and anchor in anchors, f"{name}: no runbook entry"
