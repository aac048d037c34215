"""FaceTracker with synthetic boxes: one face keeps one id, a new face gets a new one."""

from __future__ import annotations

import pytest

from beholder.worker.detect.base import Face
from beholder.worker.detect.tracker import FaceTracker, iou


def face(x: int, y: int, w: int = 60, h: int = 70, conf: float = 0.9) -> Face:
    return Face(x, y, w, h, conf)


def test_iou_basics() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == pytest.approx(1.0)
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_same_face_moving_slightly_keeps_its_id() -> None:
    tr = FaceTracker()
    first = tr.update([face(100, 100)], ts=0.0)
    assert first[0].is_new and first[0].track_id == 1
    for i in range(1, 10):
        out = tr.update([face(100 + 3 * i, 100 + i)], ts=i * 0.5)
        assert [(t.track_id, t.is_new) for t in out] == [(1, False)]
    assert len(tr.tracks) == 1 and tr.tracks[0].hits == 10


def test_two_faces_keep_their_own_ids_whatever_the_detection_order() -> None:
    tr = FaceTracker()
    a, b = face(50, 80), face(300, 60)
    ids = [t.track_id for t in tr.update([a, b], 0.0)]
    assert ids == [1, 2]
    # detector returns them in the other order, both moved a little
    out = tr.update([face(305, 62), face(48, 84)], 0.5)
    assert [t.track_id for t in out] == [2, 1]
    assert not any(t.is_new for t in out)


def test_new_face_gets_a_new_track() -> None:
    tr = FaceTracker()
    tr.update([face(50, 80)], 0.0)
    out = tr.update([face(52, 80), face(400, 90)], 0.5)
    assert [(t.track_id, t.is_new) for t in out] == [(1, False), (2, True)]


def test_face_missed_for_a_sample_or_two_keeps_its_id() -> None:
    tr = FaceTracker(memory_s=3.0)
    tr.update([face(100, 100)], 0.0)
    assert tr.update([], 0.5) == []
    assert tr.update([], 1.0) == []
    out = tr.update([face(104, 101)], 1.5)
    assert [(t.track_id, t.is_new) for t in out] == [(1, False)]


def test_track_unseen_longer_than_memory_is_dropped() -> None:
    tr = FaceTracker(memory_s=3.0)
    tr.update([face(100, 100)], 0.0)
    tr.update([], 3.5)
    assert tr.tracks == []
    out = tr.update([face(100, 100)], 4.0)
    assert [(t.track_id, t.is_new) for t in out] == [(2, True)]


def test_fast_motion_between_sparse_samples_still_links() -> None:
    # a walking face moves ~0.8 face widths between two samples: IoU is 0
    tr = FaceTracker()
    tr.update([face(100, 100)], 0.0)
    moved = face(150, 105)
    assert iou((100, 100, 60, 70), (150, 105, 60, 70)) < 0.3
    out = tr.update([moved], 0.5)
    assert [(t.track_id, t.is_new) for t in out] == [(1, False)]


def test_far_or_differently_sized_box_is_a_new_face() -> None:
    tr = FaceTracker()
    tr.update([face(100, 100)], 0.0)
    far = tr.update([face(400, 100)], 0.5)  # 5 face widths away
    assert far[0].is_new
    tr2 = FaceTracker()
    tr2.update([face(100, 100)], 0.0)
    big = tr2.update([face(60, 60, 200, 220)], 0.5)  # same place, 3x the size, low IoU
    assert big[0].is_new


def test_reset_forgets_tracks_and_never_reuses_ids() -> None:
    tr = FaceTracker()
    tr.update([face(100, 100)], 0.0)
    tr.reset()
    assert tr.tracks == []
    out = tr.update([face(100, 100)], 0.5)
    assert [(t.track_id, t.is_new) for t in out] == [(2, True)]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        FaceTracker(iou_threshold=0)
    with pytest.raises(ValueError):
        FaceTracker(memory_s=-1)
