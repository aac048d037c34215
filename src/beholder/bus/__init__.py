"""Message bus between roles: protocol, in-memory and NATS implementations."""

from __future__ import annotations

from beholder.bus.base import Bus, BusMessage, Handler, Subscription, subject_matches
from beholder.bus.memory import MemoryBus
from beholder.config import BusSettings
from beholder.config.cluster import ClusterSettings

__all__ = [
    "Bus",
    "BusMessage",
    "Handler",
    "MemoryBus",
    "Subscription",
    "create_bus",
    "subject_matches",
]


def create_bus(settings: BusSettings, cluster: ClusterSettings | None = None) -> Bus:
    """Bus for ``settings.url``: ``memory://`` (default) or ``nats://host:port`` /
    ``tls://host:port`` (with the credentials and TLS files of ``settings``; JetStream
    streams, consumers and outbox sized by ``cluster``, default ``ClusterSettings()``)."""
    url = settings.url
    cluster = cluster or ClusterSettings()
    if url.startswith("memory"):
        return MemoryBus(max_deliver=cluster.max_deliver)
    if url.startswith(("nats://", "tls://")):
        from beholder.bus.nats import NatsBus

        return NatsBus(settings, cluster=cluster)
    raise ValueError(f"unsupported bus url scheme: {url.split(':', 1)[0]}")
