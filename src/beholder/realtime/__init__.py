"""Realtime WebSocket endpoints: the dashboard hub ``/ws`` (and, later, the mobile relay)."""

from __future__ import annotations

from beholder.realtime.hub import Hub

__all__ = ["Hub"]
