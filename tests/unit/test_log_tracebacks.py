"""An exception in a log line: the traceback is there, the values of local variables are
not. They hold passwords and tokens, and rendering them stalled the event loop: with rich
installed (it comes with the dev tools) the console renderer drew every frame's locals,
20-40 s for one 500 answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import structlog

from beholder.observability import configure_logging
from support.settings import make_settings

SECRET = "hunter2-in-a-local-variable"


def _fail(password: str) -> None:
    big = {str(i): list(range(50)) for i in range(2000)}  # what the app state looks like
    raise RuntimeError(f"boom with {len(big)} entries and a {len(password)}-char password")


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_a_logged_exception_shows_its_traceback_and_no_local_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], log_format: str
) -> None:
    configure_logging(make_settings(tmp_path, log_format=log_format))
    log = structlog.get_logger("traceback-test")
    try:
        _fail(SECRET)
    except RuntimeError:
        log.exception("request failed")
    err = capsys.readouterr().err
    text = json.loads(err.splitlines()[-1])["exception"] if log_format == "json" else err
    assert "RuntimeError: boom with 2000 entries" in text and "_fail" in text
    assert SECRET not in err and "'1999'" not in err
