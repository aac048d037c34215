"""The camera worker's section, ``BEHOLDER_WORKER_<NAME>``."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
)
from pydantic_settings import SettingsConfigDict

from beholder.config.file_values import SecretSettings


class WorkerSettings(SecretSettings):
    """Camera worker tunables, ``BEHOLDER_WORKER_<NAME>``. Durations in seconds."""

    model_config = SettingsConfigDict(
        env_prefix="BEHOLDER_WORKER_",
        env_file=None,
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    sample_fps: float = Field(default=2.0, gt=0, description="detection samples/s")
    stall_timeout: float = Field(default=10.0, gt=0, description="no packet for N s")
    open_timeout: float = Field(default=10.0, gt=0)
    backoff_initial: float = Field(default=1.0, gt=0)
    backoff_max: float = Field(default=30.0, gt=0)
    stats_interval: float = Field(default=5.0, gt=0)
    stop_timeout: float = Field(default=2.0, gt=0)
    heartbeat_interval: float = Field(
        default=5.0, gt=0, description="worker heartbeat period; the api's liveness grace"
    )
    detect_threads: int = Field(default=0, ge=0, description="0: one per CPU")
    detector: Literal["yunet", "haar"] = "yunet"
    detector_threshold: float | None = Field(default=None, ge=0, le=1)
    alert_cooldown: float = Field(default=10.0, ge=0)
    detect_max_side: int = Field(default=640, ge=64)
    detect_isolation: Literal["process", "thread"] = Field(
        default="process",
        description="run detectors in child processes (a native fault or leak stays there)",
    )
    detect_recycle_calls: int = Field(
        default=20000, ge=0, description="replace a detector process after N calls (0: never)"
    )
    detect_recycle_rss_mb: int = Field(
        default=512, ge=0, description="replace a detector process above this RSS (0: never)"
    )
    motion_gate: bool = Field(
        default=True, description="skip the detector on static scenes, look where things move"
    )
    motion_threshold: int = Field(
        default=20, ge=1, le=254, description="grey levels a pixel must change to count"
    )
    motion_min_area: float = Field(
        default=0.001, ge=0, lt=0.6, description="fraction of the picture that must change"
    )
    motion_refresh: float = Field(
        default=30.0, ge=0, description="analyse a whole frame at least every N s (0: never)"
    )
    probe_interval: float = Field(
        default=1.0, gt=0, le=30, description="while a camera is down, probe it every N s"
    )
    probe_concurrency: int = Field(
        default=16, ge=1, description="probes in flight at once across cameras"
    )
    snapshot_cache: float = Field(
        default=1.0, ge=0, description="s a snapshot.jpg is reused after a newer sample"
    )
    probesize: int = Field(default=262144, ge=32)
    analyzeduration: float = Field(default=1.0, gt=0)
    max_decode_errors: int = Field(default=50, ge=1)
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="standalone `beholder worker`: serve Prometheus /metrics on this port",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="bind address of the worker's metrics endpoint"
    )
