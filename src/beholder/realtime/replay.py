"""Alert replay for a reconnecting dashboard: missed alerts first, then live ones.

A client sends the last alert id it saw (``lastAlertId`` on auth, subscribe or a
``replay`` message); the hub asks the api's ``replay`` callable for newer alerts and sends
them before any live alert, without duplicates or gaps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from pydantic import BaseModel

from beholder.contracts import hub as hub_messages
from beholder.errors import ErrorCode
from beholder.realtime.connection import Connection, Counters
from beholder.realtime.frames import Outgoing, alert_id_of
from beholder.realtime.protocol import CAMERA_PREFIX, ProtocolError, error_message

log = structlog.get_logger(__name__)

REPLAY_PAGE = 100
"""Alerts fetched per query of a replay (the rows one connection holds at a time)."""

Replay = Callable[[str, int], Awaitable[list[dict[str, Any]]]]
"""``(last_alert_id, limit) -> hub messages`` of newer alerts, oldest first, in wire form
(``wire(alert_message(...))`` of :mod:`beholder.contracts.hub`)."""


async def replay_missed(
    conn: Connection, fetch: Replay, last_id: str, limit: int, counters: Counters
) -> None:
    """Send ``conn`` the alerts after ``last_id`` (at most ``limit``), then a summary
    ``{"type": "replayed", "count", "lastAlertId", "truncated"}``, then live alerts.

    Live messages for the connection are held from the call (callers subscribe and call
    this without an await in between, so nothing slips past) until the replayed ones are
    queued; ``fetch`` is called for pages of :data:`REPLAY_PAGE` alerts, each after the
    last id of the one before. A held alert that is also in the replay is skipped: an
    alert persisted before a query but broadcast after it shows up in both. Only alerts
    the connection subscribes to (``alerts`` or ``camera:<cameraId>``) are replayed.
    Replayed frames count against the connection's ``ws_backlog_bytes`` like any other: a
    client that does not read them is closed with 1013 (the rest of the replay is
    skipped). A failing ``fetch`` is logged and reported to the client as
    ``SERVICE_UNAVAILABLE``; live delivery resumes either way.

    Raises :class:`ProtocolError` when a replay is already in flight on the connection.
    """
    if conn.held is not None:
        raise ProtocolError("A replay is already in progress.")
    conn.hold()
    counters.replays += 1
    replayed: set[str] = set()
    count = fetched = 0
    last: str | None = None
    cursor = last_id
    try:
        # Page by page: a connection holds one page of rows at a time, however long the
        # replay, and a client closed for not reading (1013) stops it at the next page.
        while fetched < limit and not conn.closing:
            want = min(REPLAY_PAGE, limit - fetched)
            page = await fetch(cursor, want)
            fetched += len(page)
            for message in page:
                if conn.closing:  # e.g. closed with 1013 for going over its byte bound
                    break
                if not isinstance(message, dict):
                    continue
                alert_id = alert_id_of(message)
                if alert_id is not None:
                    cursor = alert_id
                if not _wants_alert(conn, message):
                    continue
                try:
                    out = Outgoing.of(message, alert_id)
                except TypeError:
                    log.error("hub replay message not serializable", client=conn.client)
                    continue
                if alert_id is not None:
                    replayed.add(alert_id)
                    last = alert_id
                conn.push(out, live=False)
                count += 1
            if len(page) < want or not page or alert_id_of(page[-1]) is None:
                break
            del page
    except Exception:
        log.exception("hub replay failed", client=conn.client)
        _reply(
            conn,
            counters,
            error_message(ErrorCode.SERVICE_UNAVAILABLE, "Missed alerts could not be loaded."),
        )
    finally:
        # No await from here on: nothing can be broadcast between release and the sends.
        held = conn.release()
    counters.replayed += count
    counters.sent += count
    _reply(conn, counters, hub_messages.replayed(count, last, fetched >= limit))
    for out in held:
        if out.alert_id is None or out.alert_id not in replayed:
            conn.push(out, live=False)


def _reply(conn: Connection, counters: Counters, message: BaseModel) -> None:
    counters.sent += 1
    conn.push(Outgoing.reply(message), live=False)


def _wants_alert(conn: Connection, message: dict[str, Any]) -> bool:
    if "alerts" in conn.topics:
        return True
    camera_id = message.get("cameraId")
    return camera_id is not None and f"{CAMERA_PREFIX}{camera_id}" in conn.topics
