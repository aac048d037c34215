"""Bus latency bench: ``publish`` → handler, JetStream durable path vs core NATS, same run.

A private ``nats-server -js`` (own port and store dir) and two ``NatsBus`` connections in
this process (a publisher, a consumer: an api instance's queue subscription). For each
path, ``--messages`` messages are published at ``--rate`` per second; each carries the
publisher's ``perf_counter_ns`` and the handler records arrival minus that.

- ``jetstream``: ``camera.events`` with queue group ``api``: the outbox, a JetStream
  publish (PubAck), the stream, the durable push consumer, and the handler's ack.
- ``core``: a core subject with a queue group (what every non-durable subject does).
- ``memory``: the in-memory bus, for reference.

Usage: ``PYTHONPATH=src:tests .venv/bin/python bench/bus_latency.py [--messages 2000]
[--rate 500]``. Prints one JSON object: p50/p90/p99/max in ms per path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from beholder.bus import Bus, BusMessage, MemoryBus
from beholder.bus.nats import NatsBus
from beholder.config.cluster import ClusterSettings
from beholder.contracts.cluster import MSG_ID_HEADER
from beholder.contracts.subjects import Subjects
from beholder.messages import new_id
from support.cluster import PrivateNats


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


async def _measure(pub: Bus, sub: Bus, subject: str, n: int, rate: float) -> dict[str, Any]:
    latencies: list[float] = []
    done = asyncio.Event()

    async def handler(msg: BusMessage) -> None:
        latencies.append((time.perf_counter_ns() - int(msg.data)) / 1e6)
        if len(latencies) >= n:
            done.set()

    subscription = await sub.subscribe(subject, handler, queue="api")
    await sub.ping()
    interval = 1.0 / rate
    start = time.perf_counter()
    for i in range(n):
        await pub.publish(subject, str(time.perf_counter_ns()).encode(), {MSG_ID_HEADER: new_id()})
        next_at = start + (i + 1) * interval
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    await asyncio.wait_for(done.wait(), 60)
    await subscription.unsubscribe()
    return {
        "messages": len(latencies),
        "p50_ms": round(_pct(latencies, 0.5), 3),
        "p90_ms": round(_pct(latencies, 0.9), 3),
        "p99_ms": round(_pct(latencies, 0.99), 3),
        "max_ms": round(max(latencies), 3),
    }


async def run(n: int, rate: float) -> dict[str, Any]:
    server = PrivateNats()
    server.start()
    try:
        cluster = ClusterSettings()
        pub, sub = NatsBus(server.url, cluster=cluster), NatsBus(server.url, cluster=cluster)
        await asyncio.gather(pub.start(), sub.start())
        memory = MemoryBus()
        await memory.start()
        try:
            result = {
                "jetstream": await _measure(pub, sub, Subjects.CAMERA_EVENTS, n, rate),
                "core": await _measure(pub, sub, "bench.core", n, rate),
                "memory": await _measure(memory, memory, "bench.memory", n, rate),
                "rate_per_s": rate,
                "nats_stats": {"publisher": pub.stats(), "consumer": sub.stats()},
            }
        finally:
            await asyncio.gather(pub.close(), sub.close(), memory.close())
        return result
    finally:
        server.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=500.0, help="messages per second")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(json.dumps(asyncio.run(run(args.messages, args.rate)), indent=2))


if __name__ == "__main__":
    main()
