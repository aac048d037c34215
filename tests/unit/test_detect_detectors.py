"""Both detectors on real photos: a face is found where there is one, nothing where there
is none, boxes in source pixels, confidence in 0..1."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from beholder.worker.detect import DETECTORS, Detector, Face, create_detector, detect_scaled
from beholder.worker.detect.tracker import iou

DATA = Path(__file__).resolve().parents[1] / "data"
# Where the astronaut's face is (x, y, w, h), checked by eye on tests/data/face-astronaut.jpg.
ASTRONAUT_FACE = (178, 64, 90, 110)


def load(name: str) -> np.ndarray:
    img = cv2.imread(str(DATA / name), cv2.IMREAD_COLOR)
    assert img is not None, name
    return img


@pytest.fixture(scope="module", params=DETECTORS)
def detector(request: pytest.FixtureRequest) -> Detector:
    return create_detector(request.param)


def test_finds_the_face_in_a_portrait(detector: Detector) -> None:
    faces = detector.detect(load("face-astronaut.jpg"))
    assert len(faces) == 1
    f = faces[0]
    assert isinstance(f, Face)
    assert iou(f.box, ASTRONAUT_FACE) > 0.6
    assert 0.5 <= f.confidence <= 1.0


def test_finds_nothing_in_a_photo_without_people(detector: Detector) -> None:
    assert detector.detect(load("noface-rocket.jpg")) == []


def test_boxes_in_source_pixels_after_downscaling_a_big_photo(detector: Detector) -> None:
    big = cv2.resize(load("face-astronaut.jpg"), (2048, 2048), interpolation=cv2.INTER_CUBIC)
    faces, ms = detect_scaled(detector, big, max_side=640)
    assert ms > 0
    assert len(faces) == 1
    expected = tuple(4 * v for v in ASTRONAUT_FACE)
    assert iou(faces[0].box, expected) > 0.6, faces[0]


def test_non_contiguous_and_odd_sized_frames(detector: Detector) -> None:
    img = load("face-astronaut.jpg")
    mirrored = img[:, ::-1]  # negative stride view
    faces = detector.detect(mirrored)
    assert len(faces) == 1
    x, y, w, h = ASTRONAUT_FACE
    assert iou(faces[0].box, (512 - x - w, y, w, h)) > 0.6
    assert len(detector.detect(img[:271, :481])) == 1


def test_boxes_stay_inside_the_frame(detector: Detector) -> None:
    # face cut by the left edge: whatever is found is clipped to the frame
    img = load("face-astronaut.jpg")[:, 200:]
    for f in detector.detect(img):
        assert f.x >= 0 and f.y >= 0 and f.w > 0 and f.h > 0
        assert f.x + f.w <= img.shape[1] and f.y + f.h <= img.shape[0]


def test_threshold_filters(detector: Detector) -> None:
    strict = create_detector(detector.name, threshold=1.0)
    assert strict.detect(load("face-astronaut.jpg")) == []


def test_bad_frame_is_a_value_error(detector: Detector) -> None:
    with pytest.raises(ValueError):
        detector.detect(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError):
        detector.detect(np.zeros((10, 10, 3), np.float32))


def test_create_detector_rejects_unknown_names_and_thresholds() -> None:
    with pytest.raises(ValueError, match="unknown detector"):
        create_detector("dlib")
    with pytest.raises(ValueError, match="threshold"):
        create_detector("yunet", threshold=1.5)
    assert create_detector().name == "yunet"
    assert create_detector("HAAR").name == "haar"
