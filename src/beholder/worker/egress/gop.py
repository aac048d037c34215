"""The GOP cache: what a new viewer (or a decoder that starts late) needs to begin at once.

A :class:`GopCache` keeps the items since the last keyframe, bounded in bytes: a GOP longer
than ``max_bytes`` empties it until the next keyframe (a viewer then waits for that keyframe
instead of the server holding an unbounded GOP). One class serves both caches of a camera:
the encoded access units sent to viewers and the raw source packets fed to a decoder.
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar


class GopItem(Protocol):
    """What a cached item exposes: its bytes and whether it starts a GOP."""

    @property
    def data(self) -> bytes: ...

    @property
    def keyframe(self) -> bool: ...


ItemT = TypeVar("ItemT", bound=GopItem)


class GopCache(Generic[ItemT]):
    """Items since the last keyframe, at most ``max_bytes`` of ``data`` (loop only)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: list[ItemT] = []
        self.bytes = 0

    def add(self, item: ItemT) -> None:
        """A keyframe starts a new GOP; other items extend the current one (if any)."""
        if item.keyframe:
            self._items.clear()
            self.bytes = 0
        elif not self._items:
            return  # no keyframe since the last reset: nothing to start from
        self._items.append(item)
        self.bytes += len(item.data)
        if self.bytes > self.max_bytes:
            self.clear()

    def clear(self) -> None:
        """Forget everything until the next keyframe."""
        self._items.clear()
        self.bytes = 0

    def snapshot(self) -> list[ItemT]:
        """The cached items, keyframe first (a copy; empty when there is no GOP)."""
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)
