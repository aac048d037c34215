"""Tunables of the camera worker (ingest, sampling, detection, reconnect backoff).

:class:`WorkerSettings` is built from the application :class:`~beholder.config.Settings`
(fields ``worker_<name>``); it is also importable from :mod:`beholder.worker.session`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from beholder.worker.ingest import IngestOptions


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """Worker tunables; each reads ``Settings.worker_<name>`` when that field exists.

    Durations in seconds. ``detect_threads`` 0 = one per CPU.
    """

    sample_fps: float = 2.0
    stall_timeout: float = 10.0
    open_timeout: float = 10.0
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    stats_interval: float = 5.0
    stop_timeout: float = 2.0
    detect_threads: int = 0
    detector: str = "yunet"
    detector_threshold: float | None = None
    alert_cooldown: float = 10.0
    detect_max_side: int = 640
    detect_isolation: str = "process"
    detect_recycle_calls: int = 20000
    detect_recycle_rss_mb: int = 512
    motion_gate: bool = True
    motion_threshold: int = 20
    motion_min_area: float = 0.001
    motion_refresh: float = 30.0
    probe_interval: float = 1.0
    probe_concurrency: int = 16
    snapshot_cache: float = 1.0
    probesize: int = 262_144
    analyzeduration: float = 1.0
    max_decode_errors: int = 50

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> WorkerSettings:
        """Build from a :class:`beholder.config.Settings` (missing fields keep defaults)."""
        kw: dict[str, Any] = {}
        for f in fields(cls):
            value = getattr(settings, f"worker_{f.name}", None)
            if value is not None:
                kw[f.name] = value
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kw)

    def ingest_options(self) -> IngestOptions:
        return IngestOptions(
            open_timeout=self.open_timeout,
            read_timeout=self.stall_timeout,
            analyzeduration_us=int(self.analyzeduration * 1_000_000),
            probesize=self.probesize,
        )
