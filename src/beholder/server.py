"""Runs the api (and, for ``serve``, every role) under uvicorn."""

from __future__ import annotations

from typing import Any

import uvicorn

from beholder.config import Settings


def uvicorn_config(app: Any, settings: Settings) -> uvicorn.Config:
    """uvicorn settings tuned for the hub: uvloop + httptools, the sans-I/O websockets
    protocol (the hub's fast path writes one pre-framed message per client on it), no
    permessage-deflate (a zlib state per client costs 30-100 KB and CPU per message for
    ~1 KB alerts that barely compress; see bench/hub_fanout), and no protocol-level pings
    (the hub runs its own heartbeat)."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",  # the hub writes pre-framed messages on this protocol
        ws_per_message_deflate=False,
        ws_ping_interval=None,
        ws_max_size=settings.hub.ws_max_message_bytes,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )


def run_server(settings: Settings, role: str = "serve") -> int:
    """Start ``beholder serve`` (all roles) or ``beholder api`` and block until stopped."""
    from beholder.api.app import create_app

    app = create_app(settings, role=role)
    server = uvicorn.Server(uvicorn_config(app, settings))
    print(f"Beholder {role} listening on http://{settings.host}:{settings.port}", flush=True)
    server.run()
    return 0
