"""The command line that runs ``python -m beholder …`` in a test's child process.

When the suite measures line coverage (``make test``: pytest-cov), :func:`beholder_argv`
runs the child under ``coverage run --parallel-mode`` with the suite's configuration and
data file, and pytest-cov combines its data with the suite's at the end. Only for the light
children (``cluster up``'s supervisor, ``backup``/``restore``, the user and key commands, the
NVR agent): measuring the ``serve``/``worker`` children that decode video more than doubled
the suite's time (pyproject.toml, [tool.coverage.run]), so they keep a plain
``[sys.executable, "-m", "beholder"]``."""

from __future__ import annotations

import os
import sys

__all__ = ["beholder_argv"]


def beholder_argv(*args: str) -> list[str]:
    """``[python, -m, beholder, *args]``, under ``coverage run`` while coverage is measured.

    A child killed with SIGKILL writes no data (its lines just count as not run)."""
    import coverage

    current = coverage.Coverage.current()
    if current is None:
        return [sys.executable, "-m", "beholder", *args]
    config = current.config
    data_file = os.path.abspath(config.data_file)
    measured = [sys.executable, "-m", "coverage", "run", "--parallel-mode"]
    measured.append(f"--data-file={data_file}")
    if config.config_file:
        measured.append(f"--rcfile={os.path.abspath(config.config_file)}")
    return [*measured, "-m", "beholder", *args]
