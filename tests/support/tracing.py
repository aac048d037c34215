"""Reading finished spans as a tree: the tracing tests' helpers (in-memory exporter spans
and spans decoded from an OTLP/HTTP request alike, through :class:`Span`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from beholder import tracing

__all__ = [
    "Span",
    "SpanTree",
    "camera_start_trace",
    "delivered",
    "finished",
    "in_memory_tracing",
    "persisted_and_broadcast",
    "start_trace_outline",
]


@dataclass(frozen=True)
class Span:
    """One finished span: ids as hex strings (``parent`` ``None`` for a root)."""

    name: str
    trace_id: str
    span_id: str
    parent: str | None
    kind: str
    attributes: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    service: str | None = None
    resource: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def from_sdk(cls, s: Any) -> Span:
        parent = s.parent
        return cls(
            name=s.name,
            trace_id=format(s.context.trace_id, "032x"),
            span_id=format(s.context.span_id, "016x"),
            parent=format(parent.span_id, "016x") if parent is not None else None,
            kind=s.kind.name,
            attributes=dict(s.attributes or {}),
            service=s.resource.attributes.get("service.name"),
            resource=dict(s.resource.attributes),
        )


class SpanTree:
    """Spans of one or more traces, with parent/child look-ups."""

    def __init__(self, spans: Iterable[Span]) -> None:
        self.spans = list(spans)
        self.by_id = {s.span_id: s for s in self.spans}

    def named(self, name: str, **attributes: Any) -> list[Span]:
        """Spans called ``name`` whose attributes include ``attributes``."""
        return [
            s
            for s in self.spans
            if s.name == name and all(s.attributes.get(k) == v for k, v in attributes.items())
        ]

    def children(self, parent: Span, name: str | None = None) -> list[Span]:
        return [
            s for s in self.spans if s.parent == parent.span_id and (name is None or s.name == name)
        ]

    def child(self, parent: Span, name: str) -> Span:
        """The one child ``name`` of ``parent`` (fails with the children found otherwise)."""
        found = self.children(parent, name)
        assert len(found) >= 1, (
            f"no {name!r} under {parent.name!r}; children: "
            f"{[c.name for c in self.children(parent)]}"
        )
        return found[0]

    def descendants(self, root: Span) -> Iterator[Span]:
        for c in self.children(root):
            yield c
            yield from self.descendants(c)

    def ancestors(self, s: Span) -> list[Span]:
        out = []
        while s.parent is not None and s.parent in self.by_id:
            s = self.by_id[s.parent]
            out.append(s)
        return out

    def trace(self, trace_id: str) -> SpanTree:
        return SpanTree(s for s in self.spans if s.trace_id == trace_id)

    def outline(self, root: Span, depth: int = 0) -> str:
        """``root`` and its descendants as indented lines (name, service, status): what a
        timed-out wait prints so that a missing span can be told from a late one."""
        status = root.attributes.get("beholder.status")
        line = "  " * depth + root.name + f" [{root.service}]" * bool(root.service)
        lines = [line + f" status={status}" * bool(status)]
        lines += [self.outline(c, depth + 1) for c in self.children(root)]
        return "\n".join(lines)


def delivered(tree: SpanTree, publish: Span, topic: str) -> Span | None:
    """The ``hub broadcast`` span that ``publish hub.broadcast`` led to (None: not yet)."""
    for process in tree.children(publish, "process hub.broadcast"):
        for hub in tree.children(process, "hub broadcast"):
            if hub.attributes.get("beholder.hub.topic") == topic:
                return hub
    return None


def persisted_and_broadcast(tree: SpanTree, process: Span, what: str, topic: str) -> bool:
    """Under the api's ``process <subject>`` span: ``persist <what>`` with SQL statements
    under it, then the hub fan-out down to the hub's broadcast."""
    persist = tree.children(process, f"persist {what}")
    if not persist:
        return False
    sql = [s for s in tree.descendants(persist[0]) if s.kind == "CLIENT"]
    fan_out = tree.children(process, "publish hub.broadcast")
    return bool(sql) and any(delivered(tree, p, topic) is not None for p in fan_out)


_START_STATUSES = ("STARTING", "CONNECTING", "PROCESSING")


def camera_start_trace(tree: SpanTree) -> SpanTree | None:
    """The trace of ``POST /api/cameras/{camera_id}/start`` once it is complete: the worker's
    session start ended with PROCESSING, the api persisted each of the STARTING, CONNECTING
    and PROCESSING statuses it published (``None`` until then), and stored and broadcast
    PROCESSING. The api handles status events concurrently, so an earlier status processed
    after a later one is rightly dropped as stale: only the newest must reach the hub."""
    requests = tree.named("POST /api/cameras/{camera_id}/start")
    if not requests:
        return None
    trace = tree.trace(requests[0].trace_id)
    starts = trace.named("worker session start", **{"beholder.status": "PROCESSING"})
    if not starts:
        return None
    processed = {
        persist.attributes.get("beholder.status"): process
        for p in trace.children(starts[0], "publish stream.status")
        for process in trace.children(p, "process stream.status")
        for persist in trace.children(process, "persist status")
    }
    if not all(status in processed for status in _START_STATUSES):
        return None
    if not persisted_and_broadcast(trace, processed["PROCESSING"], "status", "cameras"):
        return None
    return trace


def start_trace_outline(tree: SpanTree) -> str:
    """What ``tree`` holds of the camera start trace (for a timed-out wait's message)."""
    requests = tree.named("POST /api/cameras/{camera_id}/start")
    if not requests:
        starts = [s.attributes.get("beholder.status") for s in tree.named("worker session start")]
        return f"no start request span among {len(tree.spans)}; session starts: {starts}"
    return tree.trace(requests[0].trace_id).outline(requests[0])


@contextmanager
def in_memory_tracing(role: str = "serve") -> Iterator[InMemorySpanExporter]:
    """Tracing on for the block, every span handed to the yielded exporter as it ends."""
    exporter = InMemorySpanExporter()
    assert tracing.configure(role, exporter=exporter)
    try:
        yield exporter
    finally:
        tracing.shutdown()


def finished(exporter: InMemorySpanExporter) -> SpanTree:
    """The spans ``exporter`` holds now."""
    return SpanTree(Span.from_sdk(s) for s in exporter.get_finished_spans())
