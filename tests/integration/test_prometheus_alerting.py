"""Debian's real ``prometheus`` scrapes a real ``beholder serve`` whose camera reads the real
RTSP fixture; the fixture is killed and the camera alert goes ``firing`` in Prometheus' own
HTTP API (``/api/v1/alerts``).

The rules are the shipped ``deploy/prometheus/alerts.yml`` with one change: the camera alert's
``for:`` is 10 s instead of 5 min, and Prometheus scrapes and evaluates every second (the
shipped intervals are measured by ``bench/alert_detection.py``). Prometheus runs on a free
port with its own storage: Debian's packaged service and port 9090 are never involved.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.rtsp_server import RtspServer
from support.polling import wait_until
from support.prometheus import (
    ALERTS_FILE,
    PrometheusProcess,
    ServeProcess,
    prometheus_available,
    rules_with_for,
)

pytestmark = [
    pytest.mark.rtsp,
    pytest.mark.skipif(not prometheus_available(), reason="apt-get install prometheus"),
]

ALERT = "BeholderCameraInError"


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    proc = ServeProcess(tmp_path / "data", tmp_path / "serve.log")
    try:
        yield proc.start()
    finally:
        proc.stop()


@pytest.fixture
def prometheus(tmp_path: Path, serve: ServeProcess) -> Iterator[PrometheusProcess]:
    rules = rules_with_for(ALERTS_FILE, tmp_path / "alerts.yml", {ALERT: "10s"})
    workdir = tmp_path / "prometheus"
    workdir.mkdir()
    proc = PrometheusProcess(
        workdir, [serve.target], rules, scrape_interval="1s", evaluation_interval="1s"
    )
    try:
        yield proc.start()
    finally:
        proc.stop()


def test_a_camera_whose_stream_dies_fires_the_camera_alert_in_prometheus(
    serve: ServeProcess, prometheus: PrometheusProcess, rtsp_private_camera: RtspServer
) -> None:
    camera_id = serve.add_camera("gate", rtsp_private_camera.url("two"))
    wait_until(lambda: serve.camera_status(camera_id) == "PROCESSING", 60, "PROCESSING")
    wait_until(prometheus.targets_up, 30, "the serve target to be up in Prometheus")
    wait_until(
        lambda: prometheus.query('beholder_cameras{status="PROCESSING"} == 1'),
        30,
        "Prometheus to see the camera PROCESSING",
    )
    # Healthy camera, rules evaluated on its series: nothing pending or firing.
    wait_until(
        lambda: (
            prometheus.query(f'ALERTS{{alertname="{ALERT}"}}') == []
            and prometheus.query("count(beholder_cameras)")
        ),
        10,
        "rules evaluated",
    )
    assert prometheus.alert_state(ALERT) is None

    rtsp_private_camera.stop()
    wait_until(lambda: serve.camera_status(camera_id) == "ERROR", 60, "the camera in ERROR")
    wait_until(lambda: prometheus.alert_state(ALERT) == "firing", 90, f"{ALERT} firing")

    (alert,) = [a for a in prometheus.alerts() if a["labels"]["alertname"] == ALERT]
    assert alert["labels"]["severity"] == "ticket"
    assert alert["annotations"]["summary"] == "1 camera(s) in ERROR for 5 minutes"
    assert alert["annotations"]["runbook_url"] == "docs/OPERATIONS.md#beholdercamerainerror"
    # The process kept being scraped: this is the camera rule, not a dead target.
    assert prometheus.alert_state("BeholderTargetDown") is None
    assert prometheus.alert_state("BeholderNoWorkerHeartbeat") is None
