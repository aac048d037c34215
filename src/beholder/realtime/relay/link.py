"""The relay's bus side: frames, alerts and control between api instances, and frames for
the worker's built-in detector.

* ``relay.frames.<stream>``: published by the instance holding the producer when another
  instance announced video consumers of the stream (``remote`` bus only) or when the
  stream is analysed by the built-in detector (any bus: the in-process worker of ``serve``
  listens on the memory bus); an instance subscribes to it only while it has video
  consumers of that stream and skips what it published itself (header ``origin``).
* ``relay.alerts.*`` and ``relay.control.*``: every instance listens (low volume) when the
  bus is remote;
* ``stream.detection`` (:class:`~beholder.contracts.bus.StreamDetectionCommand`, sent by
  the api when face detection is switched): every instance listens, to know which streams'
  frames the detector wants.

Handlers never raise into the bus (a malformed payload is logged and dropped).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

import structlog
from pydantic import ValidationError

from beholder.bus.base import Bus, BusMessage, Subscription
from beholder.contracts.bus import StreamDetectionCommand
from beholder.contracts.relay_bus import ORIGIN_HEADER, RelayAlertEvent, RelayControl
from beholder.contracts.subjects import (
    Subjects,
    relay_alerts_subject,
    relay_control_subject,
    relay_frames_subject,
)

log = structlog.get_logger(__name__)

OnFrame = Callable[[str, bytes], Awaitable[None]]
OnAlert = Callable[[RelayAlertEvent], Awaitable[None]]
OnControl = Callable[[RelayControl], Awaitable[None]]
OnDetection = Callable[[str, bool], None]


def new_instance_id() -> str:
    """An id for this api instance's relay (a bus ``Name``)."""
    return f"api-{secrets.token_hex(6)}"


class RelayLink:
    """One instance's relay on the bus. ``remote``: the bus reaches other processes (NATS);
    on the memory bus only detector frames are published."""

    def __init__(
        self,
        bus: Bus,
        instance_id: str,
        on_frame: OnFrame,
        on_alert: OnAlert,
        on_control: OnControl,
        on_detection: OnDetection,
    ) -> None:
        self.bus = bus
        self.instance_id = instance_id
        self.remote = bus.name != "memory"
        self._on_frame = on_frame
        self._on_alert = on_alert
        self._on_control = on_control
        self._on_detection = on_detection
        self._subs: list[Subscription] = []
        self._frames: dict[str, Subscription] = {}
        self._headers = {ORIGIN_HEADER: instance_id}
        self.published = 0
        self.publish_failures = 0

    async def start(self) -> None:
        """Listen for the detector commands (``stream.detection``: which streams' frames go
        on the bus) and, on a remote bus, for every stream's alerts and control."""
        self._subs.append(await self.bus.subscribe(Subjects.STREAM_DETECTION, self._detection))
        if not self.remote:
            return
        self._subs.append(await self.bus.subscribe(Subjects.RELAY_ALERTS_ALL, self._alert))
        self._subs.append(await self.bus.subscribe(Subjects.RELAY_CONTROL_ALL, self._control))

    async def stop(self) -> None:
        """Stop every subscription."""
        subs = self._subs + list(self._frames.values())
        self._subs.clear()
        self._frames.clear()
        for sub in subs:
            try:
                await sub.unsubscribe()
            except Exception:
                log.debug("relay unsubscribe failed")

    # -- frames ----------------------------------------------------------------------------

    async def want_frames(self, stream_id: str, wanted: bool) -> None:
        """Receive ``stream_id``'s frames from other instances (or stop)."""
        if not self.remote:
            return
        sub = self._frames.get(stream_id)
        if wanted and sub is None:
            self._frames[stream_id] = await self.bus.subscribe(
                relay_frames_subject(stream_id), self._frame
            )
        elif not wanted and sub is not None:
            del self._frames[stream_id]
            await sub.unsubscribe()

    async def publish_frame(self, stream_id: str, frame: bytes) -> None:
        """Publish one binary relay frame of ``stream_id`` (a failure is counted, not raised:
        the local consumers already have it)."""
        try:
            await self.bus.publish(relay_frames_subject(stream_id), frame, self._headers)
            self.published += 1
        except Exception:
            self.publish_failures += 1
            log.debug("relay frame not published", stream_id=stream_id)

    async def _frame(self, msg: BusMessage) -> None:
        if msg.headers.get(ORIGIN_HEADER) == self.instance_id:
            return
        stream_id = msg.subject.rsplit(".", 1)[-1]
        await self._on_frame(stream_id, msg.data)

    # -- alerts and control ----------------------------------------------------------------

    async def publish_alert(self, stream_id: str, message: dict[str, object]) -> None:
        """Tell the other instances about a persisted alert (remote bus only)."""
        if not self.remote:
            return
        event = RelayAlertEvent(origin=self.instance_id, stream_id=stream_id, message=message)
        await self._publish(relay_alerts_subject(stream_id), event.model_dump_json(by_alias=True))

    async def publish_control(self, control: RelayControl) -> None:
        """Tell the other instances about a control event (remote bus only)."""
        if not self.remote:
            return
        await self._publish(
            relay_control_subject(control.stream_id),
            control.model_dump_json(by_alias=True, exclude_none=True),
        )

    def control(self, stream_id: str, kind: str, **fields: object) -> RelayControl:
        """A control event of this instance."""
        return RelayControl.model_validate(
            {"origin": self.instance_id, "streamId": stream_id, "kind": kind, **fields}
        )

    async def _publish(self, subject: str, payload: str) -> None:
        try:
            await self.bus.publish(subject, payload.encode(), self._headers)
        except Exception:
            self.publish_failures += 1
            log.warning("relay event not published", subject=subject, exc_info=True)

    async def _alert(self, msg: BusMessage) -> None:
        if msg.headers.get(ORIGIN_HEADER) == self.instance_id:
            return
        try:
            event = RelayAlertEvent.model_validate_json(msg.data)
        except ValidationError:
            log.warning("malformed relay alert dropped", subject=msg.subject)
            return
        await self._on_alert(event)

    async def _detection(self, msg: BusMessage) -> None:
        try:
            command = StreamDetectionCommand.model_validate_json(msg.data)
        except ValidationError:
            log.warning("malformed stream detection command dropped", subject=msg.subject)
            return
        self._on_detection(command.stream_id, command.enabled)

    async def _control(self, msg: BusMessage) -> None:
        if msg.headers.get(ORIGIN_HEADER) == self.instance_id:
            return
        try:
            control = RelayControl.model_validate_json(msg.data)
        except ValidationError:
            log.warning("malformed relay control dropped", subject=msg.subject)
            return
        await self._on_control(control)


__all__ = ["RelayLink", "new_instance_id"]
