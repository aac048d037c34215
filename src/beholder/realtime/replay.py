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
    out. A held alert that is also in the replay is skipped: an alert persisted before the
    query but broadcast after it shows up in both. Only alerts the connection subscribes
    to (``alerts`` or ``camera:<cameraId>``) are replayed. Replayed frames count against the
    connection's ``ws_backlog_bytes`` like any other: a client that does not read them is
    closed with 1013 (the rest of the replay is skipped). A failing ``fetch`` is logged and
    reported to the client as ``SERVICE_UNAVAILABLE``; live delivery resumes either way.

    Raises :class:`ProtocolError` when a replay is already in flight on the connection.
    """
    if conn.held is not None:
        raise ProtocolError("A replay is already in progress.")
    conn.hold()
    counters.replays += 1
    messages: list[dict[str, Any]] = []
    try:
        messages = await fetch(last_id, limit)
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
    replayed: set[str] = set()
    count = 0
    last: str | None = None
    for message in messages:
        if conn.closing:  # e.g. closed with 1013 for going over its backlog bound just now
            break
        if not isinstance(message, dict) or not _wants_alert(conn, message):
            continue
        alert_id = alert_id_of(message)
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
    counters.replayed += count
    counters.sent += count
    _reply(conn, counters, hub_messages.replayed(count, last, len(messages) >= limit))
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
