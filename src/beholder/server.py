"""Runs the api (and, for ``serve``, every role) under uvicorn."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Any

import structlog
import uvicorn

from beholder.config import Settings
from beholder.tls import TlsFiles, TlsSetupError, resolve_tls, start_redirect_listener

if TYPE_CHECKING:
    from fastapi import FastAPI

log = structlog.get_logger(__name__)


def uvicorn_config(app: Any, settings: Settings, tls: TlsFiles | None = None) -> uvicorn.Config:
    """uvicorn settings tuned for the hub: uvloop + httptools, the sans-I/O websockets
    protocol (the hub's fast path writes one pre-framed message per client on it), no
    permessage-deflate (a zlib state per client costs 30-100 KB and CPU per message for
    ~1 KB alerts that barely compress; see bench/hub_fanout), and no protocol-level pings
    (the hub runs its own heartbeat). With ``tls``, HTTPS and WSS on the same port. Behind
    ``settings.trusted_proxies``, uvicorn's proxy-headers middleware sets the client address
    and scheme from X-Forwarded-For/-Proto (the right-most address not a trusted proxy)."""
    from beholder._compat.uvicorn import HubWebSocketProtocol

    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        # the hub writes pre-framed messages on this protocol (websockets-sansio, with
        # invalid UTF-8 from a client handled quietly: see HubWebSocketProtocol)
        ws=HubWebSocketProtocol,
        ws_per_message_deflate=False,
        ws_ping_interval=None,
        # The transport bound of every socket: the relay's JSON video frame (a 2 MiB JPEG in
        # base64, ~2.8 MiB) is the largest; the hub still refuses more than its own
        # ws_max_message_bytes per message (close 1009), checked in the app.
        ws_max_size=max(settings.hub.ws_max_message_bytes, settings.relay.max_message_bytes),
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
        timeout_graceful_shutdown=5,
        ssl_certfile=tls.cert if tls else None,
        ssl_keyfile=tls.key if tls else None,
    )


def run_server(settings: Settings, role: str = "serve") -> int:
    """Start ``beholder serve`` (all roles) or ``beholder api`` and block until stopped.

    Returns 0 after a clean shutdown (SIGINT/SIGTERM), 1 when start-up failed: the failing
    step is logged as one ``start-up failed`` error line and every step before it has
    been undone (nothing is left running)."""
    from beholder.api.app import create_app

    try:
        tls = resolve_tls(settings)
    except TlsSetupError as exc:
        log.error("start-up failed", step="tls", error=exc.detail)
        return 1
    app = create_app(settings, role=role)
    config = uvicorn_config(app, settings, tls)
    # The app's lifespan runs *around* the server (see _serve), so that a failed start-up
    # is reported once and a signal during shutdown cannot cut the services' cleanup short.
    config.lifespan = "off"
    scheme = "https" if tls else "http"
    print(f"Beholder {role} listening on {scheme}://{settings.host}:{settings.port}", flush=True)
    if tls is not None:
        _print_tls(tls)
    redirect = settings.tls.redirect_port if tls else None
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        return runner.run(_serve(app, config, redirect))


def _print_tls(tls: TlsFiles) -> None:
    """What an operator needs to trust the server: the CA to install (self-signed) and the
    SPKI fingerprints (``--ignore-certificate-errors-spki-list`` form)."""
    lines = [f"TLS certificate {tls.cert} (SPKI sha256 {tls.server_spki})"]
    if tls.ca is not None:
        state = "issued" if tls.issued else "reused"
        lines = [
            f"TLS self-signed certificate {state}: {tls.cert} (SPKI sha256 {tls.server_spki})",
            f"TLS CA to install on phones and browsers: {tls.ca}",
            f"TLS CA SPKI sha256 fingerprint: {tls.ca_spki}",
        ]
    print("\n".join(lines), flush=True)


async def _serve(app: FastAPI, config: uvicorn.Config, redirect_port: int | None = None) -> int:
    from beholder.api.lifecycle import StartupFailed

    server = uvicorn.Server(config)
    # SIGINT/SIGTERM stop the process during the whole lifespan, not only while uvicorn
    # serves: during start-up they cancel it (the steps done so far are undone), after it
    # they ask uvicorn to stop. uvicorn swaps in its own handlers while serving and
    # re-raises the signal when it stops; the re-raised signal lands on these handlers and
    # only sets ``should_exit`` again, so the services' cleanup always runs.
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    starting = True

    def on_signal(sig: signal.Signals) -> None:
        server.handle_exit(sig, None)
        if starting and main is not None:
            main.cancel()

    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig)
    redirect: asyncio.Server | None = None
    try:
        async with app.router.lifespan_context(app):
            starting = False
            if redirect_port is not None:
                try:
                    redirect = await start_redirect_listener(
                        config.host, redirect_port, config.port
                    )
                except OSError as exc:  # the port is taken: stop, as for the main port
                    log.error("start-up failed", step="tls-redirect", error=str(exc))
                    return 1
                print(f"Redirecting http://{config.host}:{redirect_port} to https", flush=True)
            await server.serve()
    except StartupFailed as exc:
        log.error("start-up failed", step=exc.step, error=str(exc))
        return 1
    except asyncio.CancelledError:
        if not starting:
            raise
        log.warning("start-up interrupted by a signal; stopped")
        return 1
    finally:
        if redirect is not None:
            redirect.close()
        for sig in signals:
            loop.remove_signal_handler(sig)
    return 0 if server.started else 1
