"""The durable publish outbox without a broker: order kept across failed sends, nothing
lost while the broker refuses, and the bound drops status before alerts."""

from __future__ import annotations

import asyncio

from beholder.bus.outbox import Outbox, OutboxItem
from beholder.contracts.subjects import Subjects
from support.polling import eventually


class _Broker:
    """Stores what it acknowledges; refuses everything while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.stored: list[str] = []
        self.refused = 0

    async def send(self, item: OutboxItem) -> None:
        await asyncio.sleep(0)
        if self.down:
            self.refused += 1
            raise ConnectionError("broker unreachable")
        self.stored.append(item.headers["id"])


def _item(subject: str, event_id: str) -> OutboxItem:
    return OutboxItem(subject, event_id.encode(), {"id": event_id})


async def test_messages_queued_while_the_broker_is_down_arrive_in_order() -> None:
    broker = _Broker()
    outbox = Outbox(broker.send, max_messages=1000, window=4)
    outbox.start()
    broker.down = True
    for i in range(10):
        outbox.put(_item(Subjects.CAMERA_EVENTS, f"a{i}"))
    await eventually(lambda: broker.refused >= 2, 5, "a few refused sends")
    assert len(outbox) == 10 and broker.stored == []
    broker.down = False
    assert await outbox.flush(10)
    assert broker.stored == [f"a{i}" for i in range(10)]
    assert outbox.acked == 10 and len(outbox) == 0
    await outbox.stop()


async def test_a_full_outbox_drops_the_oldest_status_before_any_alert() -> None:
    broker = _Broker()
    outbox = Outbox(broker.send, max_messages=4)  # not started: nothing leaves
    outbox.put(_item(Subjects.CAMERA_EVENTS, "a1"))
    outbox.put(_item(Subjects.STREAM_STATUS, "s1"))
    outbox.put(_item(Subjects.STREAM_STATUS, "s2"))
    outbox.put(_item(Subjects.CAMERA_EVENTS, "a2"))
    outbox.put(_item(Subjects.CAMERA_EVENTS, "a3"))  # drops s1
    outbox.put(_item(Subjects.CAMERA_EVENTS, "a4"))  # drops s2
    outbox.put(_item(Subjects.CAMERA_EVENTS, "a5"))  # no status left: drops a1
    assert outbox.dropped == 3 and len(outbox) == 4
    outbox.start()
    assert await outbox.flush(5)
    assert broker.stored == ["a2", "a3", "a4", "a5"]
    await outbox.stop()


async def test_flush_of_an_outbox_the_broker_never_takes_gives_up() -> None:
    broker = _Broker()
    broker.down = True
    outbox = Outbox(broker.send, max_messages=10)
    outbox.start()
    outbox.put(_item(Subjects.CAMERA_EVENTS, "a1"))
    assert not await outbox.flush(0.3)
    await outbox.stop()
    assert len(outbox) == 1
