"""The hub's alert gap fill after a bus outage (realtime/gap_fill.py): the mark is taken
when the bus goes down, the fill runs once after it is back and settled, a second outage
during the settle time keeps the first mark, and the hub sends only stored alerts it did
not broadcast, to connections open before the mark."""

from __future__ import annotations

from typing import Any

from beholder.config import HubSettings
from beholder.realtime.gap_fill import AlertGapFill
from beholder.realtime.hub import AlertMark, Hub
from support.polling import eventually


class FakeHub:
    def __init__(self) -> None:
        self.marks = 0
        self.fills: list[AlertMark] = []

    def alert_mark(self) -> AlertMark:
        self.marks += 1
        return AlertMark(f"a{self.marks}", float(self.marks))

    async def fill_alert_gap(self, mark: AlertMark, limit: int = 500) -> int:
        self.fills.append(mark)
        return 2


async def test_one_fill_per_outage_from_the_mark_taken_when_the_bus_went_down() -> None:
    hub = FakeHub()
    down = [False]
    fill = AlertGapFill(hub, lambda: down[0], settle=0.05, poll=0.01)  # type: ignore[arg-type]
    fill.start()
    try:
        down[0] = True
        await eventually(lambda: hub.marks == 1, 5, "the mark taken")
        down[0] = False
        await eventually(lambda: len(hub.fills) == 1, 5, "one fill")
        assert hub.fills[0].last_alert_id == "a1" and fill.filled == 2
        down[0] = True
        await eventually(lambda: hub.marks == 2, 5, "a second outage marked")
        down[0] = False
        await eventually(lambda: len(hub.fills) == 2, 5, "a second fill")
        assert hub.fills[1].last_alert_id == "a2"
    finally:
        await fill.stop()


def _alert(alert_id: str, camera_id: str = "c1") -> dict[str, Any]:
    return {"type": "face-detection-alert", "id": alert_id, "cameraId": camera_id}


async def test_the_hub_sends_only_stored_alerts_it_did_not_broadcast() -> None:
    stored = [
        _alert("a2"),
        _alert("a3"),
        _alert("a4"),
        {"type": "face-detection-alert", "id": "s1", "streamId": "x"},
    ]
    asked: list[tuple[str, int]] = []

    async def replay(last_id: str, limit: int) -> list[dict[str, Any]]:
        asked.append((last_id, limit))
        return stored

    async def authenticate(token: str) -> Any:
        raise AssertionError("no socket here")

    hub = Hub(HubSettings(), authenticate, replay)
    assert await hub.fill_alert_gap(hub.alert_mark()) == 0  # nothing broadcast: no start
    hub.broadcast("alerts", _alert("a1"), "c1")
    mark = hub.alert_mark()
    hub.broadcast("alerts", _alert("a3"), "c1")  # came live after the outage
    assert await hub.fill_alert_gap(mark, 50) == 2  # a2 and a4; a3 was sent, s1 is a stream's
    assert asked == [("a1", 50)]
    assert await hub.fill_alert_gap(mark, 50) == 0  # never twice
