"""The trace context crosses the real NATS bus in message headers: a publish on one
connection (the api) and its delivery on another (a worker) are one trace, the consumer
span a child of the producer span."""

from __future__ import annotations

import asyncio

import pytest

from beholder import tracing
from beholder.bus import BusMessage
from beholder.bus.nats import NatsBus
from beholder.bus.traced import traced_bus
from beholder.messages import Subjects
from support.bus import NATS_URL, PrefixedBus, nats_up
from support.tracing import finished, in_memory_tracing

pytestmark = pytest.mark.skipif(not nats_up(), reason="NATS on 127.0.0.1:4222 not running")


async def test_nats_headers_carry_the_trace_between_two_connections() -> None:
    with in_memory_tracing() as exporter:
        api_side = PrefixedBus(NatsBus(NATS_URL))
        worker_side = PrefixedBus(NatsBus(NATS_URL), prefix=api_side.prefix)
        api_bus, worker_bus = traced_bus(api_side), traced_bus(worker_side)
        await api_bus.start()
        await worker_bus.start()
        try:
            got: asyncio.Queue[BusMessage] = asyncio.Queue()

            async def on_command(msg: BusMessage) -> None:
                with tracing.span("worker work"):
                    await got.put(msg)

            await worker_bus.subscribe(Subjects.CAMERA_COMMANDS, on_command, queue="workers")
            await worker_bus.ping()  # the subscription is on the server before we publish
            with tracing.span("POST start"):
                await api_bus.publish(Subjects.CAMERA_COMMANDS, b"{}")
            msg = await asyncio.wait_for(got.get(), 5)
        finally:
            await api_bus.close()
            await worker_bus.close()

    assert "traceparent" in msg.headers
    tree = finished(exporter)
    root = tree.named("POST start")[0]
    publish = tree.child(root, "publish camera.commands")
    assert publish.attributes["messaging.system"] == "nats"
    assert publish.attributes["messaging.destination.name"] == "camera.commands"
    process = tree.child(publish, "process camera.commands")
    assert process.kind == "CONSUMER" and process.trace_id == root.trace_id
    assert process.attributes["messaging.consumer.group.name"] == "workers"
    assert tree.child(process, "worker work").trace_id == root.trace_id
