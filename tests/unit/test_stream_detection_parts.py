"""One relay stream's detection (worker side of issue 10): the JPEG size check that runs
before any decode, sampling at the configured rate, the one-frame decode slot (latest wins),
bad frames counted for their stream only, and the owner of a stream among workers."""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from typing import Any

import pytest

from beholder.contracts.relay_frame import encode_frame
from beholder.messages import FaceDetectionAlert
from beholder.worker.detect.base import Face, Frame
from beholder.worker.detect.pipeline import DetectionPipeline
from beholder.worker.detect.scheduler import CameraDetection, DetectionScheduler
from beholder.worker.stats import SessionCounters
from beholder.worker.streams.detection import StreamDetection
from beholder.worker.streams.jpeg import BadJpeg, decode_jpeg, jpeg_size
from beholder.worker.streams.manager import owner_of
from fixtures.relay_frames import blank_jpeg, clip_jpegs
from support.ids import cam_id
from support.polling import wait_until

# -- JPEG header ---------------------------------------------------------------------------


def test_jpeg_size_reads_the_header_of_real_frames() -> None:
    jpeg = clip_jpegs()[0]
    assert jpeg_size(jpeg) == (480, 270)
    assert decode_jpeg(jpeg).shape == (270, 480, 3)


def _with_sof(width: int, height: int) -> bytes:
    """A real JPEG whose start-of-frame segment claims ``width`` x ``height``."""
    jpeg = bytearray(blank_jpeg((64, 48)))
    i = jpeg.index(b"\xff\xc0")
    struct.pack_into(">HH", jpeg, i + 5, height, width)
    return bytes(jpeg)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "start-of-image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "start-of-image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "past the end"),
        (b"\xff\xd8\xff\xd9", "no start-of-frame"),
    ],
)
def test_jpeg_size_refuses_what_is_not_a_jpeg(data: bytes, why: str) -> None:
    with pytest.raises(BadJpeg, match=why):
        jpeg_size(data)


def test_a_jpeg_claiming_a_huge_size_is_refused_before_decoding() -> None:
    bomb = _with_sof(60000, 60000)
    assert jpeg_size(bomb) == (60000, 60000)
    with pytest.raises(BadJpeg, match="outside"):
        decode_jpeg(bomb)


def test_a_jpeg_without_image_data_is_refused_and_a_cut_one_decodes_padded() -> None:
    jpeg = clip_jpegs()[0]
    scan = jpeg.index(b"\xff\xda")
    with pytest.raises(BadJpeg, match="could not be decoded"):
        decode_jpeg(jpeg[:scan] + b"\xff\xd9")  # headers only
    # A frame cut short (a phone's lost bytes) decodes, grey where data is missing: the
    # detector finds nothing there, which is what a broken frame deserves.
    assert decode_jpeg(jpeg[: scan + 20] + b"\xff\xd9").shape == (270, 480, 3)


# -- one stream ----------------------------------------------------------------------------


class HeldExecutor(Executor):
    """Runs submitted calls only when :meth:`run` is called (the test decides when a decode
    thread is free)."""

    def __init__(self) -> None:
        self.calls: list[Callable[[], Any]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.calls.append(lambda: fn(*args, **kwargs))
        return Future()

    def run(self) -> None:
        while self.calls:
            self.calls.pop(0)()


class CountingDetector:
    """Sees frames, returns ``faces``, blocks while ``gate`` is clear."""

    name = "counting"
    input_size: tuple[int, int] | None = None

    def __init__(self) -> None:
        self.sizes: list[tuple[int, int]] = []
        self.faces: list[Face] = []
        self.gate = threading.Event()
        self.gate.set()

    def detect(self, frame_bgr: Frame) -> list[Face]:
        self.gate.wait(10)
        self.sizes.append((frame_bgr.shape[1], frame_bgr.shape[0]))
        return list(self.faces)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def detector() -> CountingDetector:
    return CountingDetector()


@pytest.fixture
def scheduler(detector: CountingDetector) -> Iterator[DetectionScheduler]:
    s = DetectionScheduler(lambda: detector, threads=1)
    yield s
    detector.gate.set()
    s.close()


def make_stream(
    scheduler: DetectionScheduler, name: str, decoder: Executor, clock: Clock, fps: float = 2.0
) -> tuple[StreamDetection, list[FaceDetectionAlert]]:
    counters = SessionCounters()
    alerts: list[FaceDetectionAlert] = []
    sid = cam_id(name)
    camera = CameraDetection(
        sid,
        scheduler,
        DetectionPipeline(sid, cooldown_s=0.0),
        counters,
        alerts.append,
        motion_gate=None,
    )
    stream = StreamDetection(
        sid, camera, decoder, interval_s=1.0 / fps, counters=counters, clock=clock
    )
    return stream, alerts


def frame_of(stream: StreamDetection, jpeg: bytes, ts_ms: int = 1_700_000_000_000) -> bytes:
    return encode_frame(stream.stream_id, ts_ms, jpeg)


def test_frames_are_sampled_at_the_detect_rate(
    scheduler: DetectionScheduler, detector: CountingDetector
) -> None:
    decoder, clock = HeldExecutor(), Clock()
    stream, _ = make_stream(scheduler, "s", decoder, clock, fps=2.0)
    jpeg = clip_jpegs()[0]
    taken = []
    for i in range(60):  # 2 s of a 30 fps phone
        clock.now = 100.0 + i / 30
        taken.append(stream.on_frame(frame_of(stream, jpeg)))
        decoder.run()
        wait_until(lambda: not stream.detection.queued and not stream.detection.running, 5, "idle")
    # every 15th frame, 10 % early allowed (the api thins the frames to about this rate)
    assert [i for i, t in enumerate(taken) if t] == [0, 14, 29, 44, 59]
    c = stream.counters
    assert (c.packets, c.samples, c.decoded, c.detections) == (60, 5, 5, 5)
    assert detector.sizes == [(480, 270)] * 5


def test_jitter_does_not_halve_a_thinned_stream(scheduler: DetectionScheduler) -> None:
    """Frames already thinned to the detect rate, arriving a few ms early or late: each
    is taken (a strict deadline would take every other one)."""
    decoder, clock = HeldExecutor(), Clock()
    stream, _ = make_stream(scheduler, "s", decoder, clock, fps=5.0)
    jpeg = clip_jpegs()[0]
    arrivals = [100.0 + 0.2 * i + (0.004 if i % 2 else -0.004) for i in range(20)]
    taken = []
    for t in arrivals:
        clock.now = t
        taken.append(stream.on_frame(frame_of(stream, jpeg)))
        decoder.run()
    assert all(taken)


def test_a_slow_decoder_keeps_only_the_latest_frame(scheduler: DetectionScheduler) -> None:
    decoder, clock = HeldExecutor(), Clock()
    stream, _ = make_stream(scheduler, "s", decoder, clock, fps=10.0)
    jpegs = clip_jpegs()
    for i in range(5):  # five samples while no decode thread is free
        clock.now += 0.1
        assert stream.on_frame(frame_of(stream, jpegs[i], ts_ms=1000 + i))
    assert len(decoder.calls) == 1  # one decode job per stream at a time
    decoder.run()
    wait_until(lambda: stream.counters.detections == 1, 5, "one analysis")
    assert stream.counters.decoded == 1
    assert stream.counters.dropped_samples == 4


def test_bad_frames_count_for_their_stream_only(
    scheduler: DetectionScheduler, detector: CountingDetector
) -> None:
    decoder, clock = HeldExecutor(), Clock()
    good, good_alerts = make_stream(scheduler, "good", decoder, clock, fps=60.0)
    bad, bad_alerts = make_stream(scheduler, "bad", decoder, clock, fps=60.0)
    detector.faces = [Face(10, 10, 40, 40, 0.9)]
    jpeg = clip_jpegs()[0]
    garbage = [
        b"\x01\x01",  # shorter than the header
        b"\x02" + frame_of(bad, jpeg)[1:],  # unknown version
        frame_of(bad, b"\xff\xd8not a jpeg at all\xff\xd9"),  # passes the relay's check
        frame_of(bad, _with_sof(60000, 60000)),  # a decompression bomb
        frame_of(good, jpeg),  # another stream's frame on this stream's subject
    ]
    for data in garbage:
        clock.now += 1.0
        bad.on_frame(data)
        decoder.run()
    clock.now += 1.0
    assert good.on_frame(frame_of(good, jpeg))
    decoder.run()
    wait_until(lambda: good_alerts, 5, "the good stream's alert")
    assert bad.counters.decode_errors == len(garbage)
    assert bad.counters.detections == 0 and bad_alerts == []
    assert good.counters.decode_errors == 0
    alert = good_alerts[0]
    assert alert.camera_id == good.stream_id and alert.source_ts == 1_700_000_000.0
    assert alert.thumbnail and alert.snapshot


def test_a_closed_stream_takes_nothing(scheduler: DetectionScheduler) -> None:
    decoder, clock = HeldExecutor(), Clock()
    stream, alerts = make_stream(scheduler, "s", decoder, clock)
    stream.on_frame(frame_of(stream, clip_jpegs()[0]))
    stream.close()  # before the decode thread got to it
    decoder.run()
    assert not stream.on_frame(frame_of(stream, clip_jpegs()[1]))
    assert stream.counters.decoded == 0 and alerts == []


def test_each_stream_has_one_owner_among_the_workers() -> None:
    workers = {"w1", "w2", "w3"}
    streams = [cam_id(f"s{i}") for i in range(300)]
    owners = {s: owner_of(s, workers) for s in streams}
    assert set(owners.values()) == workers  # spread over all of them
    # The same answer whatever the order, and a worker leaving moves only its own streams.
    assert all(owner_of(s, {"w3", "w1", "w2"}) == owners[s] for s in streams)
    moved = [s for s in streams if owner_of(s, {"w1", "w2"}) != owners[s]]
    assert moved and all(owners[s] == "w3" for s in moved)
    assert owner_of(streams[0], set()) is None
