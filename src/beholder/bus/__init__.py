"""Message bus between roles: protocol, in-memory and NATS implementations."""

from __future__ import annotations

from beholder.bus.base import Bus, BusMessage, Handler, Subscription, subject_matches
from beholder.bus.memory import MemoryBus

__all__ = [
    "Bus",
    "BusMessage",
    "Handler",
    "MemoryBus",
    "Subscription",
    "create_bus",
    "subject_matches",
]


def create_bus(url: str) -> Bus:
    """Bus for a URL: ``memory://`` (default) or ``nats://host:port``."""
    if url.startswith("memory"):
        return MemoryBus()
    if url.startswith(("nats://", "tls://")):
        from beholder.bus.nats import NatsBus

        return NatsBus(url)
    raise ValueError(f"unsupported bus url scheme: {url.split(':', 1)[0]}")
