"""A real ``beholder serve`` subprocess over plain HTTP for the browser tests: started on a
free port of 127.0.0.1 with a data dir, an admin password and extra environment, its output in
a log file, ready once ``/api/system/ready`` answers, an API client signed in as ``admin``,
stopped with SIGTERM.

``serve`` keeps the plain ``[sys.executable, "-m", "beholder", "serve"]`` command line, never
:func:`support.command.beholder_argv`: measuring it under coverage doubles the suite's time.
(``support.tls.serve`` is the HTTPS variant the TLS tests use.)"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from fixtures.rtsp_server import free_port
from support.polling import wait_until
from support.processes import log_tail, stop_process

__all__ = ["ServeProcess"]


@dataclass
class ServeProcess:
    """``beholder serve --host 127.0.0.1 --port <free port>`` as a context manager.

    ``data_dir``: its ``BEHOLDER_DATA_DIR`` (the log goes to ``data_dir/serve.log``);
    ``admin_password``: its ``BEHOLDER_ADMIN_PASSWORD`` (the first-run ``admin`` user's);
    ``env``: variables added to this process's environment (they win over it);
    ``ready_timeout``: seconds to wait for ``GET /api/system/ready`` to answer 200 (an
    ``AssertionError`` with the log's tail if the process exits or the time runs out first).

    Entering starts it, waits until it is ready and signs :attr:`client` in as ``admin``;
    leaving closes :attr:`client` and stops the process with :func:`stop_process` (SIGTERM;
    it must exit within 10 s, or within 5 s of a SIGKILL)."""

    data_dir: Path
    admin_password: str
    env: Mapping[str, str] = field(default_factory=dict)
    ready_timeout: float = 30.0
    port: int = field(init=False, default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = field(init=False, default=None)
    client: httpx.Client = field(init=False)
    """Client on :attr:`url` (10 s timeout), signed in as ``admin`` once started."""

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=10)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        """The file that receives the server's stdout and stderr."""
        return self.data_dir / "serve.log"

    def start(self) -> None:
        """Start the process, wait until it is ready and sign :attr:`client` in as ``admin``
        (stops the process again if either fails)."""
        env = {
            **os.environ,
            "BEHOLDER_DATA_DIR": str(self.data_dir),
            "BEHOLDER_ADMIN_PASSWORD": self.admin_password,
            **self.env,
        }
        argv = [sys.executable, "-m", "beholder", "serve"]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [*argv, "--host", "127.0.0.1", "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        proc = self.proc

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"beholder serve exited:\n{self.log_tail(60)}")
            with contextlib.suppress(httpx.HTTPError):
                return self.client.get("/api/system/ready").status_code == 200
            return False

        try:
            wait_until(ready, self.ready_timeout, "beholder serve to be ready")
            self.log_in("admin", self.admin_password)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Close :attr:`client`, then :func:`stop_process` (idempotent)."""
        self.client.close()
        if self.proc is not None:
            stop_process(self.proc)

    def log_in(self, username: str, password: str) -> None:
        """Sign :attr:`client` in through ``POST /api/auth/login`` (``HTTPStatusError`` if
        refused): every later request carries the access token as ``Authorization: Bearer``."""
        tok = self.client.post("/api/auth/login", json={"username": username, "password": password})
        tok.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {tok.json()['accessToken']}"

    def log_tail(self, n: int = 40) -> str:
        """The last ``n`` lines of :attr:`log`."""
        return log_tail(self.log, n)

    def json_log(self) -> list[dict[str, Any]]:
        """The log's JSON object lines so far, in order (other lines are skipped; the server
        writes JSON with ``BEHOLDER_LOG_FORMAT=json``)."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    out.append(entry)
        return out

    def __enter__(self) -> ServeProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
