"""The worker role run standalone (``beholder worker``): bus, metrics endpoint, the
:class:`~beholder.worker.manager.WorkerManager` and its live-view egress, started in order
and stopped in reverse on SIGINT/SIGTERM. Under ``serve`` the api's lifecycle runs the same
parts in-process instead (:mod:`beholder.api.lifecycle`)."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import structlog

from beholder.bus import create_bus
from beholder.bus.traced import traced_bus
from beholder.config import Settings
from beholder.worker.manager import WorkerManager

log = structlog.get_logger(__name__)


def run_worker(settings: Settings, worker_id: str | None = None) -> int:
    """Run the worker role standalone (``beholder worker``) until SIGINT/SIGTERM.

    Returns the process exit code: 0 after a clean stop, 1 when a start-up step failed
    (the bus cannot be reached, the metrics port is taken…).
    """

    async def until_signal() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        return await serve_worker(settings, stop, worker_id)

    return asyncio.run(until_signal())


async def serve_worker(
    settings: Settings, stop: asyncio.Event, worker_id: str | None = None
) -> int:
    """Start bus, metrics, worker and egress in order on one exit stack, run until ``stop``
    is set, then stop everything in reverse order (returns 0). A failing start-up step undoes
    the ones before it and logs one ``worker start-up failed`` line naming the step (returns
    1). ``worker_id``: None for the default (host name, pid, a random suffix)."""
    async with contextlib.AsyncExitStack() as stack:
        step = "bus"
        try:
            bus = traced_bus(create_bus(settings.bus, settings.cluster))
            await bus.start()
            stack.push_async_callback(bus.close)
            if settings.worker.metrics_port is not None:
                step = "metrics"
                # The api's /metrics shows the in-process worker under `serve`; a standalone
                # worker serves its own (loopback by default: no auth on this endpoint).
                from prometheus_client import start_http_server

                server, _thread = start_http_server(
                    settings.worker.metrics_port, addr=settings.worker.metrics_host
                )
                stack.callback(server.server_close)
                stack.callback(server.shutdown)
            step = "worker"
            manager = WorkerManager(
                settings.worker,
                bus,
                worker_id,
                camera=settings.camera,
                relay=settings.relay,
                cluster=settings.cluster,
            )
            stack.push_async_callback(manager.stop)
            await manager.start()
            step = "live-view egress"
            from beholder.worker.egress.hub import start_egress

            egress = await start_egress(manager, bus, settings.live_view)
            stack.push_async_callback(egress.close)
        except Exception as exc:
            log.error("worker start-up failed", step=step, error=str(exc)[:300])
            return 1
        log.info("worker running", worker_id=manager.worker_id)
        await stop.wait()
    return 0
