"""Alert detection bench: time from a fault to the alert ``firing`` in Prometheus, with the
SHIPPED configuration (issue 14, "Prometheus alert detection time ... with the shipped rule
intervals").

A real ``beholder serve`` (SQLite, in-memory bus, one camera with face detection) reads the
real GStreamer RTSP fixture (tests/fixtures/rtsp_server.py, the two-faces clip). Debian's
``prometheus`` runs with ``deploy/prometheus/prometheus.yml`` as shipped (scrape and
evaluation every 15 s) and ``deploy/prometheus/alerts.yml`` unchanged
(``BeholderCameraInError``: ``for: 5m``), on a free port with its own storage.

1. wait until the camera is PROCESSING and Prometheus has scraped it so (and the alert is
   inactive);
2. ``t_fault``: the RTSP server process is killed;
3. record when the api reports the camera ERROR, when the alert turns ``pending`` and when it
   turns ``firing`` (Prometheus' ``/api/v1/alerts``, polled every 0.5 s).

Expected: fault → ERROR (the worker notices the dropped connection) + up to one scrape
interval + up to one evaluation interval + the rule's ``for:`` (5 min). One run takes about
6-7 minutes.

Usage::

    PYTHONPATH=src .venv/bin/python bench/alert_detection.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fixtures.rtsp_server import RtspServer
from support.polling import wait_until
from support.prometheus import (
    ALERTS_FILE,
    PrometheusProcess,
    ServeProcess,
    prometheus_available,
)
from support.rtsp import TWO_FACES

ALERT = "BeholderCameraInError"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--timeout", type=float, default=600, help="give up after N s")
    args = parser.parse_args()
    if not prometheus_available():
        print("prometheus/promtool missing: apt-get install prometheus", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="alert-detection-"))
    (work / "prometheus").mkdir()
    figures: dict[str, float | str | None] = {}
    with RtspServer({"two": TWO_FACES}, log_path=work / "rtsp.log") as rtsp:
        serve = ServeProcess(work / "data", work / "serve.log").start()
        prom = PrometheusProcess(work / "prometheus", [serve.target], ALERTS_FILE)
        try:
            prom.start()
            camera_id = serve.add_camera("bench", rtsp.url("two"))
            wait_until(lambda: serve.camera_status(camera_id) == "PROCESSING", 60, "PROCESSING")
            wait_until(
                lambda: prom.query('beholder_cameras{status="PROCESSING"} == 1'),
                60,
                "Prometheus to scrape the camera PROCESSING",
                error=TimeoutError,
            )
            assert prom.alert_state(ALERT) is None, "alert active before the fault"
            print(f"camera PROCESSING and scraped; killing the RTSP server ({work})", flush=True)
            t_fault = time.monotonic()
            rtsp.stop()
            error_at = pending_at = firing_at = None
            while firing_at is None and time.monotonic() - t_fault < args.timeout:
                now = time.monotonic() - t_fault
                if error_at is None and serve.camera_status(camera_id) == "ERROR":
                    error_at = now
                    print(f"  {now:6.1f} s camera ERROR (api)", flush=True)
                state = prom.alert_state(ALERT)
                if pending_at is None and state in ("pending", "firing"):
                    pending_at = now
                    print(f"  {now:6.1f} s {ALERT} pending", flush=True)
                if state == "firing":
                    firing_at = now
                    print(f"  {now:6.1f} s {ALERT} firing", flush=True)
                time.sleep(0.5)
            figures = {
                "alert": ALERT,
                "scrape_interval": "15s",
                "evaluation_interval": "15s",
                "rule_for": "5m",
                "fault_to_error_s": _round(error_at),
                "fault_to_pending_s": _round(pending_at),
                "fault_to_firing_s": _round(firing_at),
            }
        finally:
            prom.stop()
            serve.stop()
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0 if figures.get("fault_to_firing_s") is not None else 1


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


if __name__ == "__main__":
    raise SystemExit(main())
