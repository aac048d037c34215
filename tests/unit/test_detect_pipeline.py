"""DetectionPipeline: one alert per person, not one per sample; cooldown; real footage."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from beholder.messages import FaceDetectionAlert
from beholder.worker.detect import Face, create_detector
from beholder.worker.detect.pipeline import DetectionPipeline
from beholder.worker.detect.tracker import iou
from support.ids import cam_id

DATA = Path(__file__).resolve().parents[1] / "data"
MEDIA = Path(__file__).resolve().parents[3] / "shared" / "media"
if not MEDIA.is_dir():
    MEDIA = Path("/work/shared/media")


def media(name: str) -> Path:
    path = MEDIA / name
    if not path.is_file():
        pytest.skip(f"test media {name} not found in {MEDIA}")
    return path


def sample_clip(path: Path, fps: float = 2.0) -> Iterator[tuple[float, np.ndarray]]:
    """(presentation time s, HxWx3 BGR) at ``fps`` samples per second, decode-and-drop."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        next_t = 0.0
        for frame in container.decode(stream):
            t = float(frame.time or 0.0)
            if t + 1e-6 >= next_t:
                next_t += 1.0 / fps
                yield t, frame.to_ndarray(format="bgr24")


class ScriptedDetector:
    """Returns the faces it is told to, whatever the frame."""

    name = "scripted"
    input_size: tuple[int, int] | None = None

    def __init__(self) -> None:
        self.faces: list[Face] = []

    def detect(self, frame_bgr: np.ndarray) -> list[Face]:
        return list(self.faces)


FRAME = np.full((480, 640, 3), 90, np.uint8)
A = Face(100, 100, 60, 70, 0.9)
B = Face(400, 120, 60, 70, 0.8)


def decode_jpeg(b64: str) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def test_one_alert_for_a_face_that_stays_and_one_for_a_newcomer() -> None:
    det = ScriptedDetector()
    p = DetectionPipeline(cam_id("cam-1"), det, cooldown_s=2.0)
    det.faces = [A]
    alerts = [p.process(FRAME, ts=i * 0.5) for i in range(10)]  # 5 s with A in view
    assert [a is not None for a in alerts] == [True] + [False] * 9
    first = alerts[0]
    assert isinstance(first, FaceDetectionAlert)
    assert first.camera_id == cam_id("cam-1")
    assert [(f.box, f.track_id) for f in first.faces] == [((100, 100, 60, 70), 1)]
    det.faces = [A, B]
    second = p.process(FRAME, ts=5.0, source_ts=12.5)
    assert second is not None
    # the alert shows everyone in view, each with its track id
    assert [(f.box, f.track_id) for f in second.faces] == [(A.box, 1), (B.box, 2)]
    assert second.source_ts == 12.5
    assert second.frame_width == 640 and second.frame_height == 480
    assert p.process(FRAME, ts=5.5) is None


def test_newcomer_during_cooldown_is_announced_when_it_ends() -> None:
    det = ScriptedDetector()
    p = DetectionPipeline(cam_id("cam"), det, cooldown_s=10.0)
    det.faces = [A]
    assert p.process(FRAME, 0.0) is not None
    det.faces = [A, B]
    # B stays in view, sampled every 0.5 s, all through the cooldown
    held = [p.process(FRAME, 0.5 * i) for i in range(1, 20)]
    assert held == [None] * 19
    late = p.process(FRAME, 10.0)
    assert late is not None and [f.track_id for f in late.faces] == [1, 2]
    assert p.process(FRAME, 10.5) is None


def test_face_gone_longer_than_memory_is_a_new_alert_after_cooldown() -> None:
    det = ScriptedDetector()
    p = DetectionPipeline(cam_id("cam"), det, cooldown_s=1.0, track_memory_s=3.0)
    det.faces = [A]
    assert p.process(FRAME, 0.0) is not None
    det.faces = []
    assert p.process(FRAME, 1.0) is None
    det.faces = [A]
    assert p.process(FRAME, 2.0) is None  # flickered out, same track (memory 3 s)
    det.faces = []
    p.process(FRAME, 2.5)
    det.faces = [A]
    again = p.process(FRAME, 6.0)  # gone 3.5 s: a new visit
    assert again is not None and again.faces[0].track_id == 2


def test_reset_forgets_tracks_but_keeps_the_cooldown() -> None:
    det = ScriptedDetector()
    p = DetectionPipeline(cam_id("cam"), det, cooldown_s=5.0)
    det.faces = [A]
    assert p.process(FRAME, 0.0) is not None
    p.reset()
    assert p.process(FRAME, 1.0) is None  # new track, but within the cooldown
    assert p.process(FRAME, 5.0) is not None


def test_no_faces_no_alert_and_detector_time_is_reported() -> None:
    p = DetectionPipeline(cam_id("cam"), ScriptedDetector())
    assert p.last_detector_ms is None
    assert p.process(FRAME, 0.0) is None
    assert p.last_detector_ms is not None and p.last_detector_ms >= 0


def test_alert_images_and_source_pixels_on_a_big_photo() -> None:
    photo = cv2.imread(str(DATA / "face-astronaut.jpg"))
    big = cv2.resize(photo, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    p = DetectionPipeline(cam_id("cam"), create_detector("yunet"), max_side=640)
    alert = p.process(big, 0.0)
    assert alert is not None and len(alert.faces) == 1
    assert alert.frame_width == 2048 and alert.frame_height == 2048
    assert iou(alert.faces[0].box, (712, 256, 360, 440)) > 0.6
    assert alert.thumbnail is not None and alert.snapshot is not None
    thumb = decode_jpeg(alert.thumbnail)
    assert max(thumb.shape[:2]) <= 160
    assert len(base64.b64decode(alert.thumbnail)) < 12_000
    snap = decode_jpeg(alert.snapshot)
    assert max(snap.shape[:2]) <= 1280
    # the wire form carries the fields the api and the dashboard read
    wire = alert.to_wire()
    assert wire["faces"][0]["trackId"] == 1 and 0 <= wire["faces"][0]["confidence"] <= 1


def test_two_faces_clip_gives_one_alert_with_both_faces() -> None:
    path = media("headpose-two-faces.mp4")
    samples = list(sample_clip(path))
    assert len(samples) >= 9
    p = DetectionPipeline(cam_id("cam"), create_detector("yunet"))
    alerts: list[FaceDetectionAlert] = []
    # loop the 4.7 s clip 3 times: ~14 s of camera time at 2 samples/s
    ts = 0.0
    for _loop in range(3):
        for t, frame in samples:
            alert = p.process(frame, ts, source_ts=t)
            ts += 0.5
            if alert is not None:
                alerts.append(alert)
    assert len(alerts) == 1, [len(a.faces) for a in alerts]
    assert len(alerts[0].faces) == 2
    assert {f.track_id for f in alerts[0].faces} == {1, 2}


def test_street_without_faces_raises_no_alert() -> None:
    path = media("street-cars-no-faces.mp4")
    p = DetectionPipeline(cam_id("cam"), create_detector("yunet"))
    n = 0
    # 1 sample/s over the whole 30 s clip (2/s doubles the time for no extra coverage)
    for t, frame in sample_clip(path, fps=1.0):
        assert p.process(frame, t, source_ts=t) is None, f"false alarm at {t:.1f}s"
        n += 1
    assert n >= 29  # the whole 30 s clip was looked at
