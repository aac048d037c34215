"""Two relays (two api instances' worth: two uvicorn servers, two NATS connections) on a
private real ``nats-server``: producer on one, consumers on the other."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from beholder.bus.nats import NatsBus
from beholder.contracts.relay_frame import decode_frame, encode_frame
from support.nats import NatsServer
from support.polling import eventually
from support.relay import (
    MemoryStore,
    RelayFactory,
    closed_with,
    jpeg,
    next_frame,
    next_of,
    recv,
)

pytestmark = pytest.mark.timeout(90)


async def test_producer_on_one_instance_consumers_on_the_other(
    relay_factory: RelayFactory,
    nats_server: Callable[[str], NatsServer],
) -> None:
    server = nats_server("")
    store = MemoryStore()  # one database for both
    buses = [NatsBus(server.url), NatsBus(server.url)]
    for bus in buses:
        await bus.start()
    a = await relay_factory(bus=buses[0], store=store)
    b = await relay_factory(bus=buses[1], store=store)
    assert a.relay.link.remote and a.relay.instance_id != b.relay.instance_id
    sid = store.add()
    phone = await a.producer(sid)
    dash = await b.consumer(sid, binary=True)
    ml = await b.consumer(sid, "ml-alice", "ml-service", produces=["alerts"])
    # a learns that b has two video consumers of the stream, then publishes its frames
    await eventually(lambda: a.relay.counts(sid).viewers == 2, 10, "b's counts on a")
    assert b.relay.counts(sid).producer  # and b knows a holds the producer
    statuses: list[str] = []
    for ts in range(5):
        await phone.send(encode_frame(sid, ts, jpeg(ts)))
        got = await recv(dash)
        while not isinstance(got, bytes):  # status changes made on a reach b's consumers
            assert got["type"] == "stream-status", got
            statuses.append(got["status"])
            got = await recv(dash)
        frame = decode_frame(got)
        assert (frame.stream_id, frame.timestamp_ms, bytes(frame.jpeg)) == (sid, ts, jpeg(ts))
        assert (await next_frame(ml))["timestamp"] == ts
    while "streaming" not in statuses:
        statuses.append((await next_of(dash, "stream-status"))["status"])
    # an alert sent on b is stored once and reaches the producer on a
    await ml.send(
        json.dumps(
            {
                "type": "alert",
                "streamId": sid,
                "severity": "medium",
                "message": "cat",
                "metadata": {"objectType": "cat", "location": {"x": 3, "y": 4}},
                "timestamp": 1,
            }
        )
    )
    alert = await next_of(phone, "alert")
    assert alert["message"] == "cat" and alert["metadata"]["location"] == {"x": 3, "y": 4}
    assert (await next_of(dash, "alert"))["id"] == alert["id"]
    assert len(store.alerts) == 1
    # a second producer on b replaces the one on a (4409), and frames now come from b
    phone_b = await b.producer(sid, token="mobile-alice")
    code, seen = await closed_with(phone)
    assert code == 4409 and {"type": "producer-replaced", "streamId": sid} in seen
    await phone_b.send(encode_frame(sid, 100, jpeg()))
    assert decode_frame(await next_frame(dash)).timestamp_ms == 100
    # deleting the stream closes its sockets on both instances with 4404
    await a.relay.close_stream(sid)
    for ws in (phone_b, dash, ml):
        code, seen = await closed_with(ws)
        assert code == 4404 and {"type": "stream-deleted", "streamId": sid} in seen
    for bus in buses:
        await bus.close()
