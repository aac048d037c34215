"""Rendezvous (highest-random-weight) hashing: which live worker should run a camera.

Every worker computes the same answer from the same registry view, with no coordinator:
the weight of a (worker, camera) pair is a keyed hash of both ids, and a camera's workers
ranked by descending weight give its preferred owner (rank 0) and its fallbacks. When a
worker leaves, only its cameras move (each to its own next-ranked worker, so they spread
over the others); when one joins, it takes about ``1/n`` of the cameras, from every worker
alike, and no other camera moves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = ["owner", "rank_of", "ranking", "weight"]


def weight(worker_id: str, camera_id: str) -> int:
    """The pair's weight: the first 8 bytes of BLAKE2b(worker id, camera id), unsigned.

    The ids are length-prefixed so that no two different pairs hash the same input."""
    w = worker_id.encode()
    c = camera_id.encode()
    digest = hashlib.blake2b(
        len(w).to_bytes(4, "big") + w + c, digest_size=8, person=b"beholder-hrw"
    ).digest()
    return int.from_bytes(digest, "big")


def ranking(camera_id: str, workers: Iterable[str]) -> list[str]:
    """``workers`` ordered by preference for ``camera_id``: highest weight first (ties,
    astronomically unlikely, broken by worker id). Empty when there is no worker."""
    return sorted(set(workers), key=lambda wid: (-weight(wid, camera_id), wid))


def owner(camera_id: str, workers: Iterable[str]) -> str | None:
    """The preferred worker of ``camera_id`` (rank 0), or ``None`` without workers."""
    ranked = ranking(camera_id, workers)
    return ranked[0] if ranked else None


def rank_of(worker_id: str, camera_id: str, workers: Iterable[str]) -> int | None:
    """``worker_id``'s rank for ``camera_id`` among ``workers`` (0 = preferred), or ``None``
    when it is not one of them."""
    ranked = ranking(camera_id, workers)
    try:
        return ranked.index(worker_id)
    except ValueError:
        return None
