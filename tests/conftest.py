"""The suite's fixtures live in ``tests/support/``, one module per concept; this file only
puts ``tests/`` on the import path and loads those modules as plugins.

- ``support.database``: ``database_url`` (SQLite and PostgreSQL), ``pg_template``
- ``support.api``: the app under uvicorn (``api``, ``sqlite_api``, :class:`LiveApi`)
- ``support.rtsp``: the GStreamer RTSP camera (``rtsp_camera``, ``rtsp_private_camera``, ...)
- ``support.worker``: the camera worker on an in-memory bus (``worker_harness``)
- ``support.nats``: a private ``nats-server`` with authentication (``nats_server``), TLS files
  (``tls_files``)
- ``support.relay``: the mobile relay on its own with a test store (``relay_factory``)

Plain helpers, imported by the tests that need them: ``support.settings`` (every settings
object a test builds), ``support.polling`` (``eventually``, ``wait_until``), ``support.live``
(live view: the worker stand-in and a WHEP client), ``support.browser`` (headless Chromium,
the web app's sign-in form, screenshots), ``support.serve_process`` (a real ``beholder serve``
for the browser tests).
"""

from __future__ import annotations

import sys
from pathlib import Path

import structlog

# ``support`` and ``fixtures`` are imported as top-level packages, whatever the import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# The apps the tests run in-process log through structlog's default pipeline (only the CLI
# configures logging); its console renderer would draw every frame's locals with rich (a dev
# dependency), seconds per logged exception. Plain tracebacks, as the CLI's renderer does.
structlog.configure(
    processors=[
        *structlog.get_config()["processors"][:-1],
        structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback),
    ]
)

pytest_plugins = [
    "support.database",
    "support.api",
    "support.rtsp",
    "support.worker",
    "support.nats",
    "support.relay",
]
