"""``beholder detect`` as a user runs it: JSON lines, readable table, errors per path."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from beholder.worker.detect.cli import run_detect

DATA = Path(__file__).resolve().parents[1] / "data"
FACE = str(DATA / "face-astronaut.jpg")
NOFACE = str(DATA / "noface-rocket.jpg")
MEDIA = Path(__file__).resolve().parents[3] / "shared" / "media"
if not MEDIA.is_dir():
    MEDIA = Path("/work/shared/media")


def beholder_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("beholder")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("beholder")
    return [found] if found else [sys.executable, "-m", "beholder"]


def test_json_lines_for_a_photo_with_and_one_without_faces_and_a_missing_file(
    tmp_path: Path,
) -> None:
    missing = str(tmp_path / "nope.jpg")
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    proc = subprocess.run(
        [*beholder_cmd(), "detect", FACE, missing, NOFACE, str(junk), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1  # some paths failed, the others were still processed
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [rec["path"] for rec in lines] == [FACE, NOFACE]
    face, noface = lines
    assert set(face) == {"path", "width", "height", "faces"}
    assert (face["width"], face["height"]) == (512, 512)
    assert len(face["faces"]) == 1
    x, y, w, h = face["faces"][0]["box"]
    assert 150 < x < 210 and 40 < y < 90 and 70 < w < 120 and 90 < h < 140
    assert 0.5 < face["faces"][0]["confidence"] <= 1.0
    assert noface["faces"] == [] and (noface["width"], noface["height"]) == (640, 427)
    assert f"{missing}: no such file" in proc.stderr
    assert str(junk) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_all_paths_readable_exit_zero_and_haar(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_detect([FACE, NOFACE], detector="haar", threshold=None, fps=None, as_json=True) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [len(rec["faces"]) for rec in out] == [1, 0]


def test_readable_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_detect([FACE], detector=None, threshold=None, fps=None, as_json=False) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("PATH")
    assert FACE in out[1] and "512x512" in out[1]
    assert "[178,64,89,110]" in out[1] or "[178," in out[1]


def test_video_sampled_at_fps(capsys: pytest.CaptureFixture[str]) -> None:
    clip = MEDIA / "headpose-two-faces.mp4"
    if not clip.is_file():
        pytest.skip("test media not found")
    assert run_detect([str(clip)], detector=None, threshold=None, fps=2, as_json=True) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(recs) == 10  # 4.7 s at 2/s
    assert [r["frame"] for r in recs[:3]] == [0, 6, 12]  # 12 fps clip
    assert all((r["width"], r["height"]) == (480, 270) for r in recs)
    assert all(len(r["faces"]) == 2 for r in recs)


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_detect([FACE], detector="nope", threshold=None, fps=None, as_json=True) == 2
    assert run_detect([FACE], detector=None, threshold=2.0, fps=None, as_json=True) == 2
    assert run_detect([FACE], detector=None, threshold=None, fps=0, as_json=True) == 2
    err = capsys.readouterr().err
    assert "unknown detector" in err and "threshold" in err and "--fps" in err
