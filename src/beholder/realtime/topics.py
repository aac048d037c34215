"""Which hub connections listen to which topic: the index :meth:`Hub.broadcast` reads.

Topics are ``cameras``, ``alerts``, ``health``, ... and ``camera:<id>`` per camera (see
:mod:`beholder.realtime.protocol`). Per-camera topics come and go with the cameras people
look at, so a topic with no listener is removed: the index stays as big as what is watched.
"""

from __future__ import annotations

from beholder.realtime.connection import Connection
from beholder.realtime.protocol import CAMERA_PREFIX


class TopicIndex:
    """topic -> the connections subscribed to it. Event-loop only (not thread-safe)."""

    def __init__(self) -> None:
        self._topics: dict[str, set[Connection]] = {}

    def add(self, conn: Connection, topic: str) -> None:
        """Subscribe ``conn`` to ``topic`` (idempotent)."""
        self._topics.setdefault(topic, set()).add(conn)

    def remove(self, conn: Connection, topic: str) -> None:
        """Unsubscribe ``conn`` from ``topic``; drop the topic when nobody is left."""
        subs = self._topics.get(topic)
        if subs is not None:
            subs.discard(conn)
            if not subs:
                del self._topics[topic]

    def targets(self, topic: str, camera_id: str | None = None) -> set[Connection] | None:
        """Connections subscribed to ``topic`` or, with ``camera_id``, to that camera's
        topic; each once. ``None`` when there are none (the common case costs no set)."""
        subs = self._topics.get(topic)
        cams = self._topics.get(CAMERA_PREFIX + camera_id) if camera_id else None
        if cams:
            return subs | cams if subs else cams
        return subs or None

    def subscriptions(self) -> int:
        """(connection, topic) pairs in the index."""
        return sum(len(s) for s in self._topics.values())
