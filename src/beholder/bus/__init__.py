"""Message bus between roles: protocol, in-memory and NATS implementations."""

from __future__ import annotations

from beholder.bus.base import Bus, BusMessage, Handler, Subscription, subject_matches
from beholder.bus.memory import MemoryBus
from beholder.config import BusSettings

__all__ = [
    "Bus",
    "BusMessage",
    "Handler",
    "MemoryBus",
    "Subscription",
    "create_bus",
    "subject_matches",
]


def create_bus(settings: BusSettings) -> Bus:
    """Bus for ``settings.url``: ``memory://`` (default) or ``nats://host:port`` /
    ``tls://host:port`` (with the credentials and TLS files of ``settings``)."""
    url = settings.url
    if url.startswith("memory"):
        return MemoryBus()
    if url.startswith(("nats://", "tls://")):
        from beholder.bus.nats import NatsBus

        return NatsBus(settings)
    raise ValueError(f"unsupported bus url scheme: {url.split(':', 1)[0]}")
