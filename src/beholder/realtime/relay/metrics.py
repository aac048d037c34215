"""The relay's Prometheus metrics (default registry, one set per process, scraped at
``/metrics``). ``client_type``: ``mobile`` (producers), ``dashboard``, ``ml-service``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

FRAMES_IN = Counter(
    "beholder_relay_frames_in_total", "Video frames received from producers", ["client_type"]
)
FRAMES_OUT = Counter(
    "beholder_relay_frames_out_total", "Video frames sent to consumers", ["client_type"]
)
FRAMES_DROPPED = Counter(
    "beholder_relay_frames_dropped_total",
    "Video frames dropped oldest-first for slow consumers",
    ["client_type"],
)
BYTES_IN = Counter("beholder_relay_bytes_in_total", "Video bytes received (JPEG payload)")
BYTES_OUT = Counter("beholder_relay_bytes_out_total", "Bytes sent to relay sockets (frames)")
MESSAGES_REFUSED = Counter(
    "beholder_relay_messages_refused_total", "Client messages answered with an error", ["code"]
)
ALERTS = Counter("beholder_relay_alerts_total", "Stream alerts routed by the relay", ["source"])
CONNECTIONS = Gauge(
    "beholder_relay_connections", "Open relay sockets by client type", ["client_type"]
)


_frames_out: dict[str, Counter] = {}


def frame_out(client_type: str) -> None:
    """Count one video frame handed to a ``client_type`` socket (the labelled child is
    looked up once per client type: this runs for every frame and every consumer)."""
    child = _frames_out.get(client_type)
    if child is None:
        child = _frames_out[client_type] = FRAMES_OUT.labels(client_type)
    child.inc()
