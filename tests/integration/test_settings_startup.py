"""A bad setting stops the real ``beholder`` command at start-up: exit code 2 and one line on
stderr naming the variable (every variable's bounds are covered in tests/unit/test_settings.py;
here one variable per section goes through the real process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CASES = [
    ("serve", "BEHOLDER_WORKER_SAMPLE_FPS", "0", "Input should be greater than 0"),
    ("serve", "BEHOLDER_WEBRTC_MAX_VIEWERS", "0", "Input should be greater than or equal to 1"),
    ("serve", "BEHOLDER_WS_MISSED_PONGS", "0", "Input should be greater than or equal to 1"),
    ("serve", "BEHOLDER_PORT", "70000", "Input should be less than or equal to 65535"),
    ("worker", "BEHOLDER_WORKER_PROBE_INTERVAL", "31", "Input should be less than or equal to 30"),
]


@pytest.mark.parametrize(("command", "variable", "value", "reason"), CASES)
def test_bad_setting_stops_the_command_with_one_line(
    tmp_path: Path, command: str, variable: str, value: str, reason: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEHOLDER_")}
    env.update(BEHOLDER_DATA_DIR=str(tmp_path / "data"), **{variable: value})
    proc = subprocess.run(
        [sys.executable, "-m", "beholder", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"beholder: invalid setting {variable}={value}: {reason}"]
    assert proc.stdout == ""
    assert not (tmp_path / "data").exists(), "nothing is created before the settings are valid"
