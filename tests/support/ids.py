"""Ids for tests: every id on the bus is a UUID, so a test that names a camera ``"lobby"``
uses ``cam_id("lobby")``, the same UUID every time (UUID5 of the name)."""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("5b0c1c3e-0c55-4a43-9d35-2f1b7d5e9a10")


def cam_id(name: str) -> str:
    """The UUID string that stands for the test camera ``name`` (stable across calls)."""
    return str(uuid.uuid5(_NAMESPACE, name))
