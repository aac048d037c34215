"""Shared by the distributed-mode benches (``cluster_scale.py``, ``cluster_alert_latency.py``):
free ports, percentiles, waiting for a listener, a private ``nats-server -js``."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0–1) of ``values`` by nearest rank; NaN when empty."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))] if v else float("nan")


def wait_port(port: int, timeout: float = 60.0) -> None:
    """Wait until something listens on 127.0.0.1:``port``; raises ``RuntimeError``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def start_nats(root: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    """``nats-server -js`` on ``port`` with its store and log under ``root``, listening."""
    log = (root / "nats.log").open("ab")
    proc = subprocess.Popen(
        [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(port), *extra, "-sd", str(root / "js")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_port(port)
    return proc
