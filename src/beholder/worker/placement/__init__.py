"""Distributed mode's camera placement on the worker: the registry of live workers, the
desired state, rendezvous hashing and camera leases with fencing (see :mod:`.placement`)."""

from __future__ import annotations

from beholder.worker.placement.placement import MOVING_DETAILS, Placement, SessionHost

__all__ = ["MOVING_DETAILS", "Placement", "SessionHost"]
