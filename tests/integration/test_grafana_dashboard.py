"""The Grafana dashboard (``deploy/grafana/beholder.json``) and the alert rules reference only
metrics that a running ``beholder serve`` exposes, and every dashboard query is valid PromQL.

The serve process has a camera on the real RTSP fixture with face detection, so that the
per-camera (labelled) series exist; names are compared with every sample name of ``/metrics``
(``_total``, ``_bucket``, ``_sum``, ``_count`` included as exposed).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from fixtures.rtsp_server import RtspServer
from support.polling import wait_until
from support.prometheus import ALERTS_FILE, PROMTOOL, REPO, ServeProcess, prometheus_available

DASHBOARD = REPO / "deploy" / "grafana" / "beholder.json"
METRIC = re.compile(r"\bbeholder_[a-zA-Z0-9_]+")


def _dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return doc


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def _dashboard_queries() -> list[str]:
    doc = _dashboard()
    exprs = [t["expr"] for p in _panels() for t in p["targets"]]
    exprs += [v["definition"] for v in doc["templating"]["list"] if v["type"] == "query"]
    return exprs


def _rule_queries() -> list[str]:
    doc = yaml.safe_load(ALERTS_FILE.read_text())
    return [r["expr"] for g in doc["groups"] for r in g["rules"]]


def referenced_metrics(exprs: list[str]) -> set[str]:
    """Beholder metric names in PromQL ``exprs`` (``up``/``ALERTS`` are Prometheus' own)."""
    return {m for e in exprs for m in METRIC.findall(e)}


def exposed_names(text: str) -> set[str]:
    """Every family and sample name of a ``/metrics`` exposition."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(s.name for s in family.samples)
    return names


def test_the_dashboard_is_a_grafana_dashboard_over_a_prometheus_variable() -> None:
    doc = _dashboard()
    assert doc["uid"] and doc["title"] == "Beholder"
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    assert {v["name"] for v in doc["templating"]["list"]} >= {"datasource", "job", "instance"}
    for panel in _panels():
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
    titles = " ".join(p["title"] for p in _panels()).lower()
    for subject in ("http", "cameras by state", "detect", "hub", "bus", "db pool", "live view"):
        assert subject in titles, subject
    assert "snapshot disk" in titles


@pytest.mark.skipif(not prometheus_available(), reason="apt-get install prometheus")
def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query as a recording rule (Grafana's ``$job``/``$instance``
    replaced by what "All" sends); a syntax error anywhere fails the check."""
    exprs = [e.replace("$job", ".*").replace("$instance", ".*") for e in _dashboard_queries()]
    exprs = [e for e in exprs if not e.startswith("label_values(")]
    rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    res = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"{len(rules)} rules found" in res.stdout


@pytest.fixture(scope="module")
def serve_metrics(
    tmp_path_factory: pytest.TempPathFactory, rtsp_camera: RtspServer
) -> Iterator[str]:
    """``/metrics`` of a serve whose camera (face detection on) has reported stats."""
    work = tmp_path_factory.mktemp("grafana-serve")
    serve = ServeProcess(work / "data", work / "serve.log")
    try:
        serve.start()
        camera_id = serve.add_camera("lobby", rtsp_camera.url("two"))
        wait_until(lambda: serve.camera_status(camera_id) == "PROCESSING", 60, "PROCESSING")
        # The first stats snapshot (every 5 s) sets the per-camera series.
        wait_until(
            lambda: f'beholder_camera_input_fps{{camera_id="{camera_id}"}}' in serve.metrics(),
            30,
            "the camera's first stats",
        )
        yield serve.metrics()
    finally:
        serve.stop()


@pytest.mark.rtsp
def test_every_metric_of_the_dashboard_exists_on_a_running_serve(serve_metrics: str) -> None:
    wanted = referenced_metrics(_dashboard_queries())
    assert len(wanted) >= 25
    assert wanted - exposed_names(serve_metrics) == set()


@pytest.mark.rtsp
def test_every_metric_of_the_alert_rules_exists_on_a_running_serve(serve_metrics: str) -> None:
    wanted = referenced_metrics(_rule_queries())
    assert len(wanted) >= 12
    assert wanted - exposed_names(serve_metrics) == set()


def test_a_misspelt_metric_would_be_reported() -> None:
    exposed = exposed_names('# TYPE beholder_cameras gauge\nbeholder_cameras{status="ERROR"} 1\n')
    wanted = referenced_metrics(['max(beholder_cameras{status="ERROR"}) + beholder_camera_eror'])
    assert wanted - exposed == {"beholder_camera_eror"}
