"""Motion gate: a static scene with sensor noise is static, something that moves is found
where it moves, a lighting change restarts the background, and the detection region
around motion and tracked faces is padded, grown and clipped."""

from __future__ import annotations

import numpy as np
import pytest

from beholder.worker.detect.motion import MotionGate, detection_region, grid_size

SOURCE = (1280, 720)
GRID = grid_size(*SOURCE)  # (160, 90)


def scene(rng: np.random.Generator) -> np.ndarray:
    """A textured 160x90 grey background (smooth, like a blurred real scene)."""
    base = rng.integers(40, 200, size=(9, 16), dtype=np.uint8)
    return np.kron(base, np.ones((10, 10), np.uint8))


def noisy(img: np.ndarray, rng: np.random.Generator, sigma: float = 4.0) -> np.ndarray:
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


def test_grid_keeps_the_aspect_ratio() -> None:
    assert GRID == (160, 90)
    assert grid_size(640, 480) == (160, 120)
    assert grid_size(100, 50) == (100, 50)  # never upscaled


def test_first_sample_is_analysed_whole_then_a_noisy_static_scene_is_static() -> None:
    rng = np.random.default_rng(1)
    gate = MotionGate()
    bg = scene(rng)
    first = gate.update(noisy(bg, rng), SOURCE)
    assert first.moving and first.region is None  # someone may already be in view
    verdicts = [gate.update(noisy(bg, rng), SOURCE) for _ in range(50)]
    assert not any(v.moving for v in verdicts)


def test_a_moving_object_is_found_where_it_moves() -> None:
    rng = np.random.default_rng(2)
    gate = MotionGate()
    bg = scene(rng)
    gate.update(bg, SOURCE)
    for _ in range(3):
        gate.update(noisy(bg, rng), SOURCE)
    frame = noisy(bg, rng)
    frame[40:60, 100:112] = 255  # a 12x20 grid-pixel object: 96x160 source pixels
    v = gate.update(frame, SOURCE)
    assert v.moving
    assert v.region is not None
    x, y, w, h = v.region
    # The object spans x 800..896, y 320..480 in source pixels.
    assert x <= 800 and x + w >= 896 and y <= 320 and y + h >= 480
    assert w < 200 and h < 240  # and not much more than that


def test_a_lighting_change_is_a_new_scene() -> None:
    rng = np.random.default_rng(3)
    gate = MotionGate()
    bg = scene(rng)
    gate.update(bg, SOURCE)
    gate.update(noisy(bg, rng), SOURCE)
    bright = np.clip(bg.astype(int) + 60, 0, 255).astype(np.uint8)
    v = gate.update(bright, SOURCE)
    assert v.moving and v.region is None and v.changed > 0.6
    # The background restarted from the bright picture: the same scene is static again.
    assert not gate.update(noisy(bright, rng), SOURCE).moving


def test_a_parked_object_becomes_background() -> None:
    rng = np.random.default_rng(4)
    gate = MotionGate(alpha=0.2)
    bg = scene(rng)
    gate.update(bg, SOURCE)
    parked = bg.copy()
    parked[20:50, 20:60] = 250
    moving = [gate.update(noisy(parked, rng), SOURCE).moving for _ in range(30)]
    assert moving[0]
    assert not any(moving[-10:])


def test_reset_makes_the_next_sample_whole() -> None:
    rng = np.random.default_rng(5)
    gate = MotionGate()
    bg = scene(rng)
    gate.update(bg, SOURCE)
    assert not gate.update(bg, SOURCE).moving
    gate.reset()
    v = gate.update(bg, SOURCE)
    assert v.moving and v.region is None


def test_bad_input_and_settings() -> None:
    with pytest.raises(ValueError):
        MotionGate().update(np.zeros((9, 16, 3), np.uint8), SOURCE)
    with pytest.raises(ValueError):
        MotionGate(threshold=0)
    with pytest.raises(ValueError):
        MotionGate(min_area=0.7, reset_area=0.6)
    with pytest.raises(ValueError):
        MotionGate(alpha=0)


def test_detection_region_pads_grows_and_clips() -> None:
    # One small box near the top-left corner: padded by at least 32 px, grown to 160 px,
    # clipped at the frame's edge.
    r = detection_region(SOURCE, [(10, 10, 20, 20)])
    assert r is not None
    x, y, w, h = r
    assert (x, y) == (0, 0)
    assert w >= 100 and h >= 100 and x + w <= 1280 and y + h <= 720
    # Motion and a tracked face far apart: the union covers both.
    r = detection_region(SOURCE, [(100, 100, 50, 80), (400, 200, 60, 60)])
    assert r is not None
    x, y, w, h = r
    assert x <= 100 and y <= 100 and x + w >= 460 and y + h >= 260
    # Most of the frame: not worth a crop.
    assert detection_region(SOURCE, [(0, 0, 1000, 600)]) is None
    assert detection_region(SOURCE, []) is None
