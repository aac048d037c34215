"""A sampled frame is converted by three threads at once in a worker (the motion gate's
grey copy on the ingest thread, the detector's BGR image, the snapshot's JPEG) and each gets
the right picture, without crashing the worker.

Converting one PyAV frame from two threads directly crashed a worker in CI (segmentation
fault in the snapshot encode) and, run as below on the raw frames, crashes or deadlocks
the interpreter within a few thousand conversions. The stress runs in a child interpreter
so that a crash or a hang fails this test instead of taking the pytest process with it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import av
import cv2
import numpy as np

from beholder.worker.detect.sampled_frame import SampledFrame
from fixtures.rtsp_server import MEDIA_DIR

CLIP = MEDIA_DIR / "people-walking-one-by-one.mp4"
ROUNDS = 600
"""Per thread, over 3 frames: 5,400 conversions. Unguarded, the same load crashed or hung
the interpreter in 7 runs out of 7 on this machine."""

_STRESS = textwrap.dedent(
    """
    import json, sys, threading
    import av, cv2, numpy as np
    from beholder.worker.detect.motion import grid_size
    from beholder.worker.detect.sampled_frame import SampledFrame
    from beholder.worker.latest_frame import frame_jpeg

    path, rounds = sys.argv[1], int(sys.argv[2])

    def decoded():
        with av.open(path) as c:
            return [f for _, f in zip(range(3), c.decode(video=0))]

    # References from separate decodes of the same frames, converted on one thread.
    ref = decoded()
    gw, gh = grid_size(ref[0].width, ref[0].height)
    ref_grey = [f.reformat(width=gw, height=gh, format="gray").to_ndarray().copy() for f in ref]
    ref_bgr = [f.to_ndarray(format="bgr24").copy() for f in ref]
    samples = [SampledFrame(f) for f in decoded()]
    start = threading.Barrier(3)
    wrong = {"grey": 0, "bgr": 0, "jpeg": 0}

    def gate():  # the ingest thread
        start.wait()
        for _ in range(rounds):
            for s, want in zip(samples, ref_grey):
                wrong["grey"] += not np.array_equal(s.grey(gw, gh), want)

    def analyse():  # a detection thread
        start.wait()
        for _ in range(rounds):
            for s, want in zip(samples, ref_bgr):
                wrong["bgr"] += not np.array_equal(s.bgr(), want)

    def snapshot():  # the snapshot executor
        start.wait()
        for _ in range(rounds):
            for s, want in zip(samples, ref_bgr):
                img = cv2.imdecode(np.frombuffer(frame_jpeg(s), np.uint8), cv2.IMREAD_COLOR)
                wrong["jpeg"] += img is None or img.shape != want.shape

    threads = [threading.Thread(target=f) for f in (gate, analyse, snapshot)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(wrong))
    """
)


def test_concurrent_gate_analysis_and_snapshot_of_one_frame_are_correct() -> None:
    try:
        run = subprocess.run(
            [sys.executable, "-X", "faulthandler", "-c", _STRESS, str(CLIP), str(ROUNDS)],
            capture_output=True,
            text=True,
            timeout=60,  # ~3 s when guarded; a deadlock never ends
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("concurrent conversions of one frame deadlocked") from None
    assert run.returncode == 0, (
        f"the worker's conversions crashed ({run.returncode}):\n" + (run.stderr[-3000:])
    )
    wrong = json.loads(run.stdout.strip().splitlines()[-1])
    assert wrong == {"grey": 0, "bgr": 0, "jpeg": 0}, wrong


def test_bgr_and_grey_are_the_frames_pictures() -> None:
    img = np.zeros((120, 160, 3), np.uint8)
    img[:, :80] = (255, 0, 0)  # left half blue (BGR), right half black
    sample = SampledFrame.from_bgr(img)
    assert (sample.width, sample.height) == (160, 120)
    assert np.array_equal(sample.bgr(), img)
    grey = sample.grey(16, 12)
    assert grey.shape == (12, 16) and grey.dtype == np.uint8
    blue_luma = int(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[0, 0])  # 29
    # Away from the edge, which the scaler's filter blurs over a column or two.
    assert np.abs(grey[:, :6].astype(int) - blue_luma).max() <= 1
    assert grey[:, 10:].max() <= 1


def test_a_decoded_yuv_frame_converts_like_pyav_does() -> None:
    with av.open(str(CLIP)) as c:
        frame = next(c.decode(video=0))
        want = frame.to_ndarray(format="bgr24").copy()
    assert frame.format.name == "yuv420p"
    assert np.array_equal(SampledFrame(frame).bgr(), want)
