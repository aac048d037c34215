"""The distributed mode's section, ``BEHOLDER_CLUSTER_<NAME>``: JetStream streams and
consumers, camera leases and placement. Used only when the bus is NATS (JetStream)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from beholder.config.file_values import SecretSettings


class ClusterSettings(SecretSettings):
    """Distributed-mode tunables, ``BEHOLDER_CLUSTER_<NAME>``. Durations in seconds, sizes in
    bytes. Every api and worker of one cluster must use the same values (the first instance
    to start creates the streams and buckets with them; later ones update them)."""

    model_config = SettingsConfigDict(
        env_prefix="BEHOLDER_CLUSTER_",
        env_file=None,
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    # camera leases (JetStream KV) and placement
    lease_ttl: float = Field(
        default=5.0,
        ge=1.0,
        le=300.0,
        description="a camera lease not renewed for this long expires and another worker "
        "takes the camera (failover time is about this plus a session start)",
    )
    lease_renew_interval: float = Field(
        default=1.5, gt=0, description="how often a worker renews each lease it holds"
    )
    registry_ttl: float = Field(
        default=5.0, ge=1.0, le=300.0, description="a worker missing this long is dead"
    )
    placement_interval: float = Field(
        default=1.0, gt=0, le=60.0, description="how often a worker re-checks placement"
    )
    rebalance_moves_per_minute: int = Field(
        default=6,
        ge=0,
        le=10_000,
        description="cameras one worker hands over per minute when a new worker joins "
        "(0: never move a running camera to a new worker; a dead worker's are taken at once)",
    )
    worker_settle_time: float = Field(
        default=10.0,
        ge=0,
        description="a newly registered worker receives handovers only after this long",
    )

    # durable streams (camera.events, stream.status) and the api's consumers
    stream_max_age: float = Field(
        default=7 * 24 * 3600.0, gt=0, description="messages older than this are discarded"
    )
    stream_max_bytes: int = Field(
        default=1 << 30, ge=1 << 20, description="size cap of each durable stream"
    )
    stream_replicas: int = Field(
        default=1, ge=1, le=5, description="JetStream replicas (1 for one nats-server)"
    )
    duplicate_window: float = Field(
        default=120.0,
        gt=0,
        description="JetStream de-duplicates a re-published message id within this window",
    )
    ack_wait: float = Field(
        default=10.0,
        ge=1.0,
        description="a message an api instance took and did not acknowledge within this "
        "long is redelivered (to another instance if it died)",
    )
    max_deliver: int = Field(
        default=20, ge=1, description="deliveries of one message before it is given up"
    )
    max_ack_pending: int = Field(
        default=1000, ge=1, description="messages in flight per consumer before delivery pauses"
    )
    consumer_concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        description="messages one api instance handles at once per durable consumer (each "
        "holds a database session while it runs; ordering per camera is kept by the events' "
        "lease epoch and sequence, not by delivery order)",
    )
    outbox_max_messages: int = Field(
        default=10_000,
        ge=100,
        description="durable messages a process holds while NATS is unreachable "
        "(older status events are dropped first; alerts last)",
    )

    @model_validator(mode="after")
    def _renew_within_ttl(self) -> ClusterSettings:
        if self.lease_renew_interval * 2 > self.lease_ttl:
            raise ValueError(
                "BEHOLDER_CLUSTER_LEASE_RENEW_INTERVAL must be at most half of "
                "BEHOLDER_CLUSTER_LEASE_TTL (a lease survives one lost renewal)"
            )
        return self
