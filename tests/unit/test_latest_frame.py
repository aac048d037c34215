"""``snapshot.jpg`` of a streaming camera shows a recent picture: the JPEG of the latest
sample is reused while no newer frame was sampled or until it is ``max_age`` s old, never
longer (it once stayed frozen on the first requested frame while samples kept arriving)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from beholder.worker.detect.sampled_frame import SampledFrame
from beholder.worker.latest_frame import LatestFrame


class Clock:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def sample(level: int) -> SampledFrame:
    return SampledFrame.from_bgr(np.full((48, 64, 3), level, np.uint8))


def level_of(jpeg: bytes | None) -> int:
    assert jpeg is not None and jpeg[:3] == b"\xff\xd8\xff"
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return round(float(img.mean()))


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(1) as pool:
        yield pool


async def test_nothing_sampled_is_none_and_clear_forgets(executor: ThreadPoolExecutor) -> None:
    latest = LatestFrame(executor, max_age=1.0)
    assert await latest.jpeg() is None
    latest.put(sample(50))
    assert level_of(await latest.jpeg()) == 50
    latest.clear()
    assert await latest.jpeg() is None


async def test_a_snapshot_follows_the_stream_at_most_max_age_behind(
    executor: ThreadPoolExecutor,
) -> None:
    clock = Clock()
    latest = LatestFrame(executor, max_age=1.0, clock=clock)
    latest.put(sample(50))
    assert level_of(await latest.jpeg()) == 50
    # Samples keep arriving (every 0.5 s at 2 samples/s): within max_age the JPEG is reused.
    clock.now += 0.5
    latest.put(sample(120))
    assert level_of(await latest.jpeg()) == 50
    # Past max_age, the newest sample is encoded, even though it was sampled just now.
    clock.now += 0.6
    latest.put(sample(200))
    assert level_of(await latest.jpeg()) == 200
    clock.now += 5.0  # the same frame is never encoded twice
    first = await latest.jpeg()
    assert first is await latest.jpeg()


async def test_max_age_zero_encodes_every_new_sample(executor: ThreadPoolExecutor) -> None:
    latest = LatestFrame(executor, max_age=0.0, clock=Clock())
    for level in (30, 90, 150):
        latest.put(sample(level))
        assert level_of(await latest.jpeg()) == level
