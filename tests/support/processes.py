"""Child processes of the tests: stopping one politely, reading the end of its log."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

__all__ = ["log_tail", "stop_process"]


def stop_process(
    proc: subprocess.Popen[bytes], timeout: float = 10.0, kill_timeout: float = 5.0
) -> None:
    """Stop ``proc`` (if it still runs): SIGTERM, wait up to ``timeout`` seconds for it to
    exit, else SIGKILL and wait up to ``kill_timeout`` seconds (``subprocess.TimeoutExpired``
    if it still has not exited)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=kill_timeout)


def log_tail(path: Path, n: int = 40) -> str:
    """The last ``n`` lines of the text file ``path`` ("" if it cannot be read)."""
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    return ""
