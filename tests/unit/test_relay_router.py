"""The relay router: producers (one per stream, replaced), consumers, routing, figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from beholder.realtime.relay.directory import StreamCounts
from beholder.realtime.relay.queue import Packet
from beholder.realtime.relay.router import Router


class FakeQueue:
    def __init__(self) -> None:
        self.items: list[Packet] = []
        self.frames_sent = 0
        self.frames_dropped = 0
        self.queued_bytes = 0

    def put(self, packet: Packet) -> bool:
        self.items.append(packet)
        return True


@dataclass(eq=False)
class FakePeer:
    connection_id: str
    client_type: str = "dashboard"
    principal_key: str = "user:u1"
    queue: Any = field(default_factory=FakeQueue)


def frame() -> Packet:
    return Packet(b"\xff\xd8jpeg\xff\xd9", video=True)


def test_second_producer_replaces_the_first() -> None:
    r = Router()
    a, b = FakePeer("a", "mobile"), FakePeer("b", "mobile")
    assert r.register("s1", a) is None
    assert r.register("s1", a) is None  # again: not a replacement
    assert r.register("s1", b) is a
    assert r.is_producer("s1", b) and not r.is_producer("s1", a)
    assert r.drop(a) == []  # no longer producing anything
    assert r.drop(b) == ["s1"]
    assert r.streams() == []


def test_frames_go_to_video_consumers_binary_or_json_built_once() -> None:
    r = Router()
    prod = FakePeer("p", "mobile")
    r.register("s1", prod)
    binary, text, alerts_only = FakePeer("b"), FakePeer("t"), FakePeer("x", "ml-service")
    other_stream = FakePeer("o")
    r.subscribe("s1", binary, frozenset({"video", "alerts"}), binary=True)
    r.subscribe("s1", text, frozenset({"video"}))
    r.subscribe("s1", alerts_only, frozenset({"alerts"}))
    r.subscribe("s2", other_stream, frozenset({"video"}))
    built: list[Packet] = []

    def as_json() -> Packet:
        built.append(Packet('{"type":"video-frame"}', video=True))
        return built[-1]

    bin_packet = frame()
    assert r.route_frame("s1", bin_packet, as_json) == 2
    assert binary.queue.items == [bin_packet]
    assert text.queue.items == built and len(built) == 1
    assert alerts_only.queue.items == [] and other_stream.queue.items == []
    assert prod.queue.items == []
    assert r.route_frame("nobody", bin_packet, as_json) == 0


def test_alerts_go_to_producer_and_alert_consumers_once() -> None:
    r = Router()
    prod = FakePeer("p", "mobile")
    r.register("s1", prod)
    ml = FakePeer("m", "ml-service")
    video_only = FakePeer("v")
    r.subscribe("s1", ml, frozenset({"video", "alerts"}))
    r.subscribe("s1", video_only, frozenset({"video"}))
    alert = Packet('{"type":"alert"}', video=False)
    assert r.route_alert("s1", alert) == 2
    assert prod.queue.items == [alert] and ml.queue.items == [alert]
    assert video_only.queue.items == []
    # a producer that does not consume alerts does not get them
    quiet = FakePeer("q", "mobile")
    r.register("s1", quiet, frozenset())
    assert r.route_alert("s1", alert) == 1


def test_control_to_consumers_and_to_all() -> None:
    r = Router()
    prod, c = FakePeer("p", "mobile"), FakePeer("c")
    r.register("s1", prod)
    r.subscribe("s1", c, frozenset({"video"}))
    status = Packet('{"type":"stream-status"}', video=False)
    assert r.to_consumers("s1", status) == 1 and prod.queue.items == []
    assert r.to_all("s1", status) == [prod, c]


def test_unsubscribe_and_drop_clean_up() -> None:
    r = Router()
    c = FakePeer("c")
    assert r.subscribe("s1", c, frozenset({"video"}))
    assert not r.subscribe("s1", c, frozenset({"video", "alerts"}))  # update
    assert r.streams_of(c) == {"s1"}
    assert r.unsubscribe("s1", c)
    assert not r.unsubscribe("s1", c)
    assert r.streams() == [] and r.streams_of(c) == set()
    r.subscribe("s1", c, frozenset({"video"}))
    r.subscribe("s2", c, frozenset({"alerts"}))
    assert r.drop(c) == []
    assert r.streams() == []


def test_counts_and_consumer_figures_local_plus_remote() -> None:
    r = Router()
    prod, dash = FakePeer("p", "mobile"), FakePeer("d")
    ml = FakePeer("m", "ml-service", "api_key:k")
    r.register("s1", prod)
    r.subscribe("s1", dash, frozenset({"video"}))
    r.subscribe("s1", ml, frozenset({"video", "alerts"}))
    ml.queue.frames_sent, ml.queue.frames_dropped = 10, 3
    assert r.counts("s1") == StreamCounts(viewers=2, ml_consumers=1, producer=True)
    assert r.counts("other") == StreamCounts()
    r.set_remote("i2", "s1", StreamCounts(viewers=3))
    r.set_remote("i2", "s9", StreamCounts(producer=True))
    assert r.remote_viewers("s1") == 3
    assert r.counts("s1") == StreamCounts(viewers=5, ml_consumers=1, producer=True)
    assert r.counts("s9").producer
    figures = {f.connection_id: f for f in r.consumers("s1")}
    assert set(figures) == {"d", "m"}
    assert figures["m"].client_type == "ml-service" and figures["m"].principal == "api_key:k"
    assert figures["m"].consumes == ("alerts", "video")
    assert (figures["m"].frames_sent, figures["m"].frames_dropped) == (10, 3)
    r.forget_remote("i2")
    assert r.counts("s9") == StreamCounts()


def test_remote_announcements_expire() -> None:
    r = Router(remote_ttl=-1)  # everything is already stale
    r.set_remote("i2", "s1", StreamCounts(viewers=3))
    assert r.counts("s1") == StreamCounts()
