"""The packet sinks of one camera (live-view egress) and the hand-out of each packet to them.

:class:`PacketFanout` belongs to a camera session and outlives its connections. Sinks are
added and removed on the event loop (copy-on-write tuple: the ingest thread never locks);
the ingest thread calls :meth:`open`, :meth:`packet` and :meth:`close` for each connection.
A sink attached mid-stream is opened with the current :class:`StreamInfo` before its first
packet. A failing sink is counted (``counters.sink_errors``) and never stops ingest.
"""

from __future__ import annotations

from typing import Any

import structlog

from beholder.worker.stats import SessionCounters
from beholder.worker.stream import PacketSink, RawPacket, StreamInfo

log = structlog.get_logger(__name__)

_LOGGED_SINK_ERRORS = 5
"""Packet-level sink failures logged with a traceback per session (the rest are counted)."""


class PacketFanout:
    """Hands one camera's packets to its sinks (see the module docstring)."""

    def __init__(self, camera_id: str, counters: SessionCounters) -> None:
        self.camera_id = camera_id
        self.counters = counters
        self._sinks: tuple[PacketSink, ...] = ()
        # Ingest-thread state of the current connection.
        self._opened: tuple[PacketSink, ...] = ()
        self._info: StreamInfo | None = None

    # ------------------------------------------------------------------ any thread
    @property
    def sinks(self) -> tuple[PacketSink, ...]:
        """The attached sinks (a snapshot)."""
        return self._sinks

    def add(self, sink: PacketSink) -> None:
        """Attach ``sink`` (idempotent); it is opened before its first packet."""
        if not any(s is sink for s in self._sinks):
            self._sinks = (*self._sinks, sink)

    def remove(self, sink: PacketSink) -> None:
        """Detach ``sink`` (idempotent); it gets no further call."""
        self._sinks = tuple(s for s in self._sinks if s is not sink)

    def sink_stats(self) -> list[dict[str, Any]]:
        """``stats()`` of the sinks that report figures (egress mode, viewers)."""
        out: list[dict[str, Any]] = []
        for sink in self._sinks:
            stats = getattr(sink, "stats", None)
            if stats is None:
                continue
            try:
                out.append(stats())
            except Exception:  # a sink's bug must not break the camera's status events
                log.exception("egress stats failed", camera_id=self.camera_id)
        return out

    # ------------------------------------------------------------------ ingest thread
    def open(self, info: StreamInfo) -> None:
        """A connection opened: remember its stream facts (sinks are opened lazily)."""
        self._info = info
        self._opened = ()

    @property
    def wanted(self) -> bool:
        """True when a packet must be copied for someone (sinks attached or open)."""
        return bool(self._sinks or self._opened)

    def packet(self, raw: RawPacket) -> None:
        """Hand ``raw`` to every sink, opening the ones attached since the last packet."""
        sinks = self._sinks
        if sinks is not self._opened:
            self._sync(sinks)
        for sink in self._opened:
            try:
                sink.on_packet(raw)
            except Exception:
                self.counters.sink_errors += 1
                if self.counters.sink_errors <= _LOGGED_SINK_ERRORS:
                    log.exception("packet sink failed", camera_id=self.camera_id)

    def close(self) -> None:
        """The connection ended: tell the sinks that were opened on it."""
        opened, self._opened, self._info = self._opened, (), None
        for sink in opened:
            try:
                sink.on_stream_closed()
            except Exception:
                log.exception("packet sink failed on close", camera_id=self.camera_id)

    def _sync(self, sinks: tuple[PacketSink, ...]) -> None:
        info = self._info
        for sink in sinks:
            if info is None or any(sink is o for o in self._opened):
                continue
            try:
                sink.on_stream_open(info)
            except Exception:
                self.counters.sink_errors += 1
                log.exception("packet sink failed on open", camera_id=self.camera_id)
        self._opened = sinks
