"""Detectors keep their memory flat over many calls (issue 13: the yunet wheel's wrapper
leaked a copy of every frame, 0.69 MB per 640x360 call, and nothing ran long enough to see).

Each detector runs in a fresh interpreter, so allocations of other tests cannot hide or
fake growth: a few warm-up calls (buffers, lazy init), then RSS before and after 500 calls
on a 640x360 frame with a face in it. A leak of one frame per call would be 345 MB.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from beholder.worker.detect import DETECTORS

DATA = Path(__file__).resolve().parents[1] / "data"
CALLS = 500
MAX_GROWTH_MB = 20.0

_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import cv2, numpy as np, psutil
    from beholder.worker.detect import create_detector
    from beholder.worker.detect.isolated import SubprocessDetector

    name, mode, path, calls = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    frame = np.zeros((360, 640, 3), np.uint8)  # 640x360, the portrait letterboxed in
    frame[:, 140:500] = cv2.resize(cv2.imread(path), (360, 360))
    det = SubprocessDetector(name) if mode == "process" else create_detector(name)
    proc = psutil.Process(det.pid) if mode == "process" else psutil.Process()
    found = [len(det.detect(frame)) for _ in range(10)]
    before = proc.memory_info().rss
    for _ in range(calls):
        found.append(len(det.detect(frame)))
    after = proc.memory_info().rss
    print(json.dumps({"before": before, "after": after, "faces": found[-1]}))
    """
)


def _run(name: str, mode: str) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, name, mode, str(DATA / "face-astronaut.jpg"), str(CALLS)],
        check=True,
        capture_output=True,
        text=True,
        timeout=110,
    )
    result: dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.slow
@pytest.mark.parametrize("name", DETECTORS)
def test_detector_memory_is_flat_over_500_calls(name: str) -> None:
    r = _run(name, "thread")
    growth_mb = (r["after"] - r["before"]) / 2**20
    assert r["faces"] >= 1, "the frame has a face: the detector must keep finding it"
    assert growth_mb < MAX_GROWTH_MB, f"{name}: RSS grew {growth_mb:.1f} MB over {CALLS} calls"


@pytest.mark.slow
def test_detector_child_process_memory_is_flat_over_500_calls() -> None:
    r = _run("yunet", "process")
    growth_mb = (r["after"] - r["before"]) / 2**20
    assert r["faces"] >= 1
    assert growth_mb < MAX_GROWTH_MB, f"detector child grew {growth_mb:.1f} MB over {CALLS} calls"
