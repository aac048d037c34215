"""Rendezvous hashing: every worker computes the same owner, cameras spread evenly, and a
worker joining or leaving moves only the cameras it must."""

from __future__ import annotations

from collections import Counter

from beholder.worker.placement.rendezvous import owner, rank_of, ranking, weight

WORKERS = ["worker-a", "worker-b", "worker-c", "worker-d"]
CAMERAS = [f"cam-{i:04d}" for i in range(1000)]


def placement(workers: list[str]) -> dict[str, str | None]:
    return {cam: owner(cam, workers) for cam in CAMERAS}


def test_the_owner_does_not_depend_on_who_computes_it_or_on_the_order() -> None:
    assert placement(WORKERS) == placement(list(reversed(WORKERS)))
    assert weight("worker-a", "cam-1") == weight("worker-a", "cam-1")
    ranked = ranking("cam-7", WORKERS)
    assert sorted(ranked) == sorted(WORKERS)
    assert [rank_of(w, "cam-7", WORKERS) for w in ranked] == [0, 1, 2, 3]
    assert rank_of("stranger", "cam-7", WORKERS) is None
    assert owner("cam-7", []) is None
    # Length-prefixed: ("ab", "c") and ("a", "bc") are different pairs.
    assert weight("ab", "c") != weight("a", "bc")


def test_a_thousand_cameras_spread_about_evenly_over_four_workers() -> None:
    counts = Counter(placement(WORKERS).values())
    assert set(counts) == set(WORKERS)
    # 250 each on average; a binomial spread stays well within ±20 %.
    assert all(200 <= n <= 300 for n in counts.values()), counts


def test_a_leaving_worker_moves_only_its_own_cameras_and_spreads_them() -> None:
    before = placement(WORKERS)
    after = placement([w for w in WORKERS if w != "worker-c"])
    moved = {cam for cam in CAMERAS if before[cam] != after[cam]}
    assert moved == {cam for cam in CAMERAS if before[cam] == "worker-c"}
    # Each moved camera goes to its next-ranked worker: spread over all three survivors.
    assert set(Counter(after[cam] for cam in moved)) == {"worker-a", "worker-b", "worker-d"}


def test_a_joining_worker_takes_about_its_share_from_every_worker_and_nothing_else_moves() -> None:
    before = placement(WORKERS)
    after = placement([*WORKERS, "worker-e"])
    moved = [cam for cam in CAMERAS if before[cam] != after[cam]]
    assert all(after[cam] == "worker-e" for cam in moved)
    assert 150 <= len(moved) <= 250  # 1/5 of 1,000 on average
    assert set(Counter(before[cam] for cam in moved)) == set(WORKERS)
