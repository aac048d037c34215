"""A real ``beholder serve`` process with a camera, and Debian's real ``prometheus`` scraping it.

Used by the Prometheus and Grafana tests and by ``bench/alert_detection.py`` (plain classes,
no pytest fixtures, so that a bench can use them too). Every process gets its own free port
and temporary directory: nothing here depends on port 9090 (Debian's packaged service) or
on any other Prometheus running on the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import yaml

from fixtures.rtsp_server import free_port
from support.polling import wait_until
from support.processes import stop_process
from support.settings import TEST_CAMERA_NETWORKS

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "prometheus"
ALERTS_FILE = DEPLOY / "alerts.yml"
CONFIG_FILE = DEPLOY / "prometheus.yml"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
ADMIN_PASSWORD = "alerts-admin-password-1"


def prometheus_available() -> bool:
    """True when Debian's ``prometheus`` package (server and ``promtool``) is installed."""
    return os.access(PROMETHEUS, os.X_OK) and os.access(PROMTOOL, os.X_OK)


class ServeProcess:
    """``beholder serve`` in a child process on a free port, data in ``data_dir``.

    ``env``: extra ``BEHOLDER_*`` variables. :meth:`start` waits for ``/api/system/ready``;
    :meth:`add_camera` creates and starts a camera as the admin; :meth:`metrics` reads
    ``/metrics`` (loopback is in the default ``metrics_allow``).
    """

    def __init__(self, data_dir: Path, log_path: Path, **env: str) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = free_port()
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=15)
        self._headers: dict[str, str] = {}

    @property
    def target(self) -> str:
        """``host:port`` for a Prometheus scrape config."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> ServeProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
        env.update(
            BEHOLDER_DATA_DIR=str(self.data_dir),
            BEHOLDER_PORT=str(self.port),
            BEHOLDER_ADMIN_PASSWORD=ADMIN_PASSWORD,
            BEHOLDER_CAMERA_NETWORKS=TEST_CAMERA_NETWORKS,
            BEHOLDER_LOG_LEVEL="WARNING",
            **self.env,
        )
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "beholder", "serve"],
                env=env,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        wait_until(self._ready, timeout, "beholder serve to be ready", every=0.3)
        r = self.client.post(
            "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        r.raise_for_status()
        self._headers = {"Authorization": f"Bearer {r.json()['accessToken']}"}
        return self

    def _ready(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, "serve exited, see its log"
        try:
            return self.client.get("/api/system/ready").status_code == 200
        except httpx.TransportError:
            return False

    def add_camera(self, name: str, url: str, *, face_detection: bool = True) -> str:
        """Create the camera, start it and return its id (status not awaited)."""
        r = self.client.post(
            "/api/cameras",
            json={"name": name, "rtspUrl": url, "faceDetectionEnabled": face_detection},
            headers=self._headers,
        )
        r.raise_for_status()
        camera_id: str = r.json()["id"]
        self.client.post(f"/api/cameras/{camera_id}/start", headers=self._headers)
        return camera_id

    def camera_status(self, camera_id: str) -> str:
        r = self.client.get(f"/api/cameras/{camera_id}", headers=self._headers)
        r.raise_for_status()
        return str(r.json()["status"])

    def metrics(self) -> str:
        r = self.client.get("/metrics")
        r.raise_for_status()
        return r.text

    def stop(self) -> None:
        self.client.close()
        if self.proc is not None:
            stop_process(self.proc, timeout=30)


def rules_with_for(source: Path, target: Path, for_durations: dict[str, str]) -> Path:
    """Copy the rule file ``source`` to ``target`` with each named alert's ``for:`` replaced
    (``{"BeholderCameraInError": "10s"}``): the same expressions, a test's shorter waits."""
    doc: dict[str, Any] = yaml.safe_load(source.read_text())
    seen = set()
    for group in doc["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") in for_durations:
                rule["for"] = for_durations[rule["alert"]]
                seen.add(rule["alert"])
    missing = set(for_durations) - seen
    if missing:
        raise KeyError(f"no such alert in {source}: {sorted(missing)}")
    target.write_text(yaml.safe_dump(doc, sort_keys=False))
    return target


class PrometheusProcess:
    """Debian's ``prometheus`` on a free port with its own storage in ``workdir``, scraping
    ``targets`` (``host:port`` of beholder serve processes) with the shipped config's jobs,
    intervals overridable, loading ``rules`` (the shipped alerts.yml or a test copy)."""

    def __init__(
        self,
        workdir: Path,
        targets: list[str],
        rules: Path = ALERTS_FILE,
        scrape_interval: str | None = None,
        evaluation_interval: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.config = workdir / "prometheus.yml"
        doc: dict[str, Any] = yaml.safe_load(CONFIG_FILE.read_text())
        glob = doc.setdefault("global", {})
        if scrape_interval is not None:
            glob["scrape_interval"] = glob["scrape_timeout"] = scrape_interval
        if evaluation_interval is not None:
            glob["evaluation_interval"] = evaluation_interval
        doc["rule_files"] = [str(rules)]
        jobs = [j for j in doc["scrape_configs"] if j["job_name"] == "beholder"]
        jobs[0]["static_configs"] = [{"targets": targets}]
        doc["scrape_configs"] = jobs
        self.config.write_text(yaml.safe_dump(doc, sort_keys=False))
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def start(self, timeout: float = 60) -> PrometheusProcess:
        log = open(self.workdir / "prometheus.log", "ab")  # noqa: SIM115 - child owns it
        self.proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
        )
        log.close()
        wait_until(self._ready, timeout, "prometheus to be ready", every=0.3)
        return self

    def _ready(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, "prometheus exited"
        try:
            return self.client.get("/-/ready").status_code == 200
        except httpx.TransportError:
            return False

    def alerts(self) -> list[dict[str, Any]]:
        """``/api/v1/alerts``: every pending or firing alert with labels and ``state``."""
        r = self.client.get("/api/v1/alerts")
        r.raise_for_status()
        alerts: list[dict[str, Any]] = r.json()["data"]["alerts"]
        return alerts

    def alert_state(self, name: str) -> str | None:
        """``"pending"``, ``"firing"`` or ``None`` (inactive) for alert ``name``."""
        states = {a["state"] for a in self.alerts() if a["labels"].get("alertname") == name}
        return "firing" if "firing" in states else ("pending" if states else None)

    def query(self, expr: str) -> list[dict[str, Any]]:
        r = self.client.get("/api/v1/query", params={"query": expr})
        r.raise_for_status()
        result: list[dict[str, Any]] = r.json()["data"]["result"]
        return result

    def targets_up(self) -> bool:
        r = self.client.get("/api/v1/targets")
        r.raise_for_status()
        active = r.json()["data"]["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)

    def stop(self) -> None:
        self.client.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
