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

    Returns the process exit code: 0 after a clean stop, 1 when the bus cannot be reached.
    """
    return asyncio.run(_run_worker(settings, worker_id))


async def _run_worker(settings: Settings, worker_id: str | None) -> int:
    """Start bus, metrics, worker and egress in order on one exit stack: a failing step
    undoes the ones before it and logs one line naming the step (exit 1); a signal stops
    everything in reverse order (exit 0)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
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
