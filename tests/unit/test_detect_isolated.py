"""SubprocessDetector: same faces as in-process, errors surface, a dead child is replaced."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from beholder.worker.detect import create_detector
from beholder.worker.detect.isolated import SubprocessDetector
from beholder.worker.detect.pipeline import DetectionPipeline
from support.ids import cam_id

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def isolated() -> Iterator[SubprocessDetector]:
    with SubprocessDetector("yunet") as det:
        yield det


def test_same_faces_as_in_process(isolated: SubprocessDetector) -> None:
    img = cv2.imread(str(DATA / "face-astronaut.jpg"))
    assert isolated.name == "yunet" and isolated.input_size == (640, 640)
    assert isolated.detect(img) == create_detector("yunet").detect(img)
    assert isolated.detect(cv2.imread(str(DATA / "noface-rocket.jpg"))) == []


def test_works_inside_the_pipeline(isolated: SubprocessDetector) -> None:
    img = cv2.imread(str(DATA / "face-astronaut.jpg"))
    alert = DetectionPipeline(cam_id("cam"), isolated).process(img, 0.0)
    assert alert is not None and len(alert.faces) == 1


def test_bad_input_and_settings_are_value_errors(isolated: SubprocessDetector) -> None:
    with pytest.raises(ValueError):
        isolated.detect(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="unknown detector"):
        SubprocessDetector("nope")
    with pytest.raises(ValueError, match="threshold"):
        SubprocessDetector("haar", threshold=-0.1)


def test_a_dead_child_is_replaced(isolated: SubprocessDetector) -> None:
    img = cv2.imread(str(DATA / "face-astronaut.jpg"))
    proc = isolated._proc
    assert proc is not None
    proc.kill()
    proc.join(5)
    assert len(isolated.detect(img)) == 1
    assert isolated._proc is not proc and isolated._proc.is_alive()


def test_the_child_is_recycled_after_max_calls_without_losing_a_frame() -> None:
    img = cv2.imread(str(DATA / "face-astronaut.jpg"))
    with SubprocessDetector("yunet", max_calls=3) as det:
        pids = []
        results = []
        for _ in range(7):
            pids.append(det.pid)
            results.append(det.detect(img))
        # Every call answered (none lost to a recycle), by three children in turn.
        assert all(len(r) == 1 for r in results)
        assert det.recycles == 2
        assert len(set(pids)) == 3
        assert pids[:3] == [pids[0]] * 3


def test_the_child_is_recycled_when_its_memory_passes_the_bound() -> None:
    img = cv2.imread(str(DATA / "face-astronaut.jpg"))
    # 1 MB: any real child is above it, so the first RSS check (every RSS_CHECK_EVERY
    # calls, the first right after call RSS_CHECK_EVERY) recycles it.
    with SubprocessDetector("haar", max_rss_mb=1) as det:
        first = det.pid
        from beholder.worker.detect.isolated import RSS_CHECK_EVERY

        for _ in range(RSS_CHECK_EVERY):
            det.detect(img)
        assert det.recycles == 1
        assert det.pid != first
        assert len(det.detect(img)) == 1
