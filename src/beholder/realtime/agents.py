"""The NVR agent socket ``/api/nvrs/ws`` (issue 11): where ``beholder nvr-agent`` processes
register their NVR, heartbeat and report probes. Messages: :mod:`beholder.contracts.nvr`.

Sign-in is the hub's (:func:`.handshake.sign_in`): ``{"type": "auth", "token": <key>}``
first within ``settings.nvr.auth_timeout`` s (or the key in ``Sec-WebSocket-Protocol:
beholder, <key>``); a bad key is refused with ``error`` UNAUTHORIZED and close 4401. Only
an API key of scope ``nvr`` bound to an NVR gets in: anything else (a user's token, another
scope) gets ``error`` PERMISSION_DENIED and close 1008. Then ``auth-ok``.

After that, per message (each answered ``error`` when refused; the socket stays open and
no other socket is affected, unless a close is said):

* ``register`` → :meth:`AgentService.register` → ``registered``. A key registers only its
  own NVR's hostname (the service raises ``PermissionDenied`` → ``error`` + close 1008).
  ``register`` may be sent again on the same socket (new channels found).
* ``heartbeat``, ``probe-report`` → the service (``register`` first, else INVALID_INPUT).
* ``ping`` → ``pong``; ``pong`` → nothing. The server pings every
  ``settings.nvr.ping_interval`` s; ``hub.ws_missed_pongs`` pings without any message from
  the agent close the socket (4408).

One socket per NVR: a second agent socket of the same NVR replaces the first, which is
closed with 4409 ``replaced`` (its end does not mark the NVR offline). When a registered
socket ends, :meth:`AgentService.disconnected` is called once (the service marks the NVR
offline when it was its last socket) — except when the server shuts down.
Sockets are leased in the :class:`~beholder.auth.connections.ConnectionRegistry`: revoking
the key closes its socket (``error`` UNAUTHORIZED, close 4401).

The service is passed in by the api's lifecycle (``realtime`` never imports ``api``).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Hashable
from typing import Any, Protocol

import structlog
from pydantic import ValidationError
from starlette.types import Message
from starlette.websockets import WebSocket

from beholder.auth.connections import ConnectionRegistry, EndReason, Lease
from beholder.auth.roles import Principal
from beholder.config import HubSettings, NvrSettings
from beholder.contracts import nvr as nvr_messages
from beholder.contracts.nvr import (
    NVR_CLIENT_MESSAGE,
    NvrProbeReport,
    NvrRegister,
    NvrRegistered,
)
from beholder.contracts.wire import new_id
from beholder.errors import AppError, ErrorCode, public_code
from beholder.realtime.admission import Admission, client_host, refuse
from beholder.realtime.connection import CLOSE_GRACE, Connection, Counters
from beholder.realtime.frames import Outgoing
from beholder.realtime.handshake import Authenticate, sign_in
from beholder.realtime.heartbeat import Heartbeat, now_ms
from beholder.realtime.protocol import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL,
    CLOSE_POLICY,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNAUTHORIZED,
    ProtocolError,
    parse_text,
    subprotocol_token,
)

log = structlog.get_logger(__name__)

CLOSE_REPLACED = 4409
"""Another socket of the same NVR took over (mirrors HTTP 409 Conflict)."""
LEASE_KIND = "nvr-agent"


class AgentService(Protocol):
    """What the socket needs from the NVR cascade service (:class:`beholder.nvr.service.
    NvrService`). Every method persists first, then broadcasts; errors are
    :class:`~beholder.errors.AppError` s. ``connection``: the socket's token (its
    :class:`Connection`), so that a socket replacing another is not taken for an outage."""

    def authorize(self, principal: Principal) -> str:
        """The NVR id ``principal`` may act as (``PermissionDenied`` otherwise)."""
        ...

    async def register(
        self, principal: Principal, msg: NvrRegister, connection: Hashable | None = None
    ) -> NvrRegistered:
        """Create/update the NVR and one camera per channel; mark it online."""
        ...

    async def heartbeat(self, nvr_id: str) -> None:
        """The NVR's agent is alive."""
        ...

    async def probe_report(self, nvr_id: str, report: NvrProbeReport) -> None:
        """Apply a probe report to the NVR's cameras' reachability."""
        ...

    async def disconnected(self, nvr_id: str, connection: Hashable | None = None) -> None:
        """A registered socket of the NVR closed: offline at once when it was the last."""
        ...


def _error(code: ErrorCode, message: str) -> nvr_messages.NvrError:
    return nvr_messages.error(code, message, new_id())


class _Agent:
    """Per-socket state beside its :class:`Connection`."""

    __slots__ = ("conn", "lease", "nvr_id", "principal", "registered")

    def __init__(self, conn: Connection, principal: Principal, nvr_id: str) -> None:
        self.conn = conn
        self.principal = principal
        self.nvr_id = nvr_id
        self.registered = False
        self.lease: Lease | None = None


class AgentSocket:
    """The ``/api/nvrs/ws`` endpoint. Mount ``endpoint``; :meth:`start` / :meth:`close`."""

    def __init__(
        self,
        hub_settings: HubSettings,
        settings: NvrSettings,
        authenticate: Authenticate,
        service: AgentService,
        connections: ConnectionRegistry | None = None,
        concurrency: int = 8,
    ) -> None:
        self.settings = settings
        # Service calls in flight across all agent sockets. Each one writes to the database:
        # past what the database takes at once, more only adds lock waits (SQLite's busy
        # handler sleeps up to 100 ms a try) or pool timeouts — queued here they wait their
        # turn instead, each socket's messages still in order (bench/nvr_fleet.py).
        self._calls = asyncio.Semaphore(concurrency)
        # register and disconnected of one NVR run one at a time, in arrival order: an agent
        # that reconnects while its old socket's end is still being handled must not see
        # the old end's "offline" land after its new "online".
        self._order: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.hub_settings = hub_settings.model_copy(
            update={"ws_auth_timeout": settings.auth_timeout}
        )
        self._authenticate = authenticate
        self.service = service
        self._registry = connections
        self._conns: set[Connection] = set()
        self._agents: dict[Connection, _Agent] = {}
        self._current: dict[str, _Agent] = {}  # nvr id → the socket that speaks for it
        self.counters = Counters()
        self._heartbeat = Heartbeat(
            lambda: self._agents.keys(),
            settings.ping_interval,
            hub_settings.ws_missed_pongs,
            self._ping,
            self._dead,
            name="nvr-agents",
        )
        self._admission = Admission(hub_settings.ws_unauthenticated_per_client)
        self._closed = False
        self.replaced = 0
        self.revoked = 0
        self.messages = 0

    def _ping(self, conn: Connection) -> None:
        self.counters.sent += 1
        conn.push(Outgoing.reply(nvr_messages.ping(now_ms())), live=False)

    def _dead(self, conn: Connection) -> None:
        self.counters.disconnected_dead += 1

    async def start(self) -> None:
        """Start the ping task. Idempotent."""
        self._closed = False
        self._heartbeat.start()

    async def close(self) -> None:
        """Close every agent socket with 1001 (bounded) and stop the ping task."""
        self._closed = True
        await self._heartbeat.stop()
        for conn in list(self._conns):
            conn.close_soon(CLOSE_GOING_AWAY, "server shutting down")
        tasks = [c.close_task for c in self._conns if c.close_task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_GRACE + 0.5)

    def stats(self) -> dict[str, int]:
        """Current ``connections``, ``agents`` (authenticated), ``nvrs`` (registered);
        totals since start: ``messages``, ``invalidMessages``, ``authFailures``,
        ``replaced``, ``revoked``, ``disconnectedDead``, ``disconnectedSlow``."""
        c = self.counters
        return {
            "connections": len(self._conns),
            "agents": len(self._agents),
            "nvrs": sum(1 for a in self._current.values() if a.registered),
            "messages": self.messages,
            "invalidMessages": c.invalid_messages,
            "authFailures": c.auth_failures,
            "replaced": self.replaced,
            "revoked": self.revoked,
            "disconnectedDead": c.disconnected_dead,
            "disconnectedSlow": c.disconnected_slow,
        }

    def _ordered(self, nvr_id: str) -> asyncio.Lock:
        lock = self._order.get(nvr_id)
        if lock is None:
            lock = self._order[nvr_id] = asyncio.Lock()
        return lock

    def is_connected(self, nvr_id: str) -> bool:
        """Whether an agent socket currently speaks for ``nvr_id``."""
        return nvr_id in self._current

    # -- connection ------------------------------------------------------------------------

    async def endpoint(self, websocket: WebSocket) -> None:
        """The socket's life: admission, accept, sign-in, messages, cleanup."""
        token, subprotocol = subprotocol_token(websocket.scope.get("subprotocols") or [])
        if self._closed:
            with contextlib.suppress(Exception):
                await websocket.close(code=CLOSE_TRY_AGAIN_LATER)
            return
        host = client_host(websocket)
        if not self._admission.enter(host):
            self.counters.refused += 1
            await refuse(websocket, host, self._admission.limit)
            return
        in_auth = True
        try:
            try:
                await websocket.accept(subprotocol=subprotocol)
            except Exception:
                return
            conn = Connection(
                websocket,
                self.hub_settings.ws_send_queue,
                self.counters,
                byte_limit=self.hub_settings.ws_backlog_bytes,
            )
            self._conns.add(conn)
            agent: _Agent | None = None
            try:
                agent = await self._sign_in(conn, token)
                in_auth = False
                self._admission.leave(host)
                if agent is not None:
                    await self._serve(agent)
            except Exception:
                log.exception("nvr agent socket failed", client=conn.client)
                conn.close_soon(CLOSE_INTERNAL, "internal error")
            finally:
                await self._forget(conn, agent)
                if conn.close_task is not None:
                    with contextlib.suppress(Exception):
                        await conn.close_task
        finally:
            if in_auth:
                self._admission.leave(host)

    async def _sign_in(self, conn: Connection, token: str | None) -> _Agent | None:
        signed_in = await sign_in(
            conn,
            token,
            self._authenticate,
            self.hub_settings,
            self.counters,
            self._decode,
            refuse=_error,
        )
        if signed_in is None:
            return None
        principal = signed_in[0]
        try:
            nvr_id = self.service.authorize(principal)
        except AppError as exc:  # not an nvr key bound to an NVR
            self.counters.auth_failures += 1
            log.info("nvr socket refused a principal", principal=principal.key)
            final = _error(public_code(exc.code), exc.message)
            await conn.close(CLOSE_POLICY, "not an nvr key", final)
            return None
        agent = _Agent(conn, principal, nvr_id)
        conn.principal = principal
        self._agents[conn] = agent
        if self._registry is not None:
            agent.lease = self._registry.register(
                principal, LEASE_KIND, lambda reason: self._end(agent, reason)
            )
        self._reply(
            conn, nvr_messages.auth_ok(principal.name, agent.nvr_id, self.settings.ping_interval)
        )
        return agent

    def _end(self, agent: _Agent, reason: EndReason) -> None:
        agent.lease = None
        self.revoked += 1
        agent.conn.close_soon(
            CLOSE_UNAUTHORIZED,
            reason.value,
            _error(ErrorCode.UNAUTHORIZED, "This NVR's API key was revoked."),
        )

    async def _forget(self, conn: Connection, agent: _Agent | None) -> None:
        conn.closing = True
        self._conns.discard(conn)
        self._agents.pop(conn, None)
        if conn.flusher is not None:
            conn.flusher.cancel()
        if agent is None:
            return
        if agent.lease is not None and self._registry is not None:
            self._registry.unregister(agent.lease)
            agent.lease = None
        if self._current.get(agent.nvr_id) is agent:
            del self._current[agent.nvr_id]
        if agent.registered and not self._closed:
            # A replaced socket too: the service counts sockets per NVR. Not at shutdown:
            # the server going away is not the NVR going offline (the agent reconnects,
            # here or to another instance; the silence monitor catches one that does not).
            try:
                async with self._ordered(agent.nvr_id), self._calls:
                    await self.service.disconnected(agent.nvr_id, connection=conn)
            except Exception:
                log.exception("nvr disconnect handling failed", nvr_id=agent.nvr_id)

    def _decode(self, conn: Connection, message: Message) -> dict[str, Any] | None:
        if message["type"] == "websocket.disconnect":
            return None
        conn.seen = True
        text = message.get("text")
        if text is None:
            raise ProtocolError("Binary messages are not accepted; send JSON text.")
        return parse_text(text, self.hub_settings.ws_max_message_bytes)

    def _reply(self, conn: Connection, message: Any) -> None:
        self.counters.sent += 1
        conn.push(Outgoing.reply(message), live=False)

    async def _serve(self, agent: _Agent) -> None:
        conn = agent.conn
        while not conn.closing:
            try:
                data = self._decode(conn, await conn.websocket.receive())
                if data is None:
                    return
                self.messages += 1
                await self._dispatch(agent, data)
            except ProtocolError as exc:
                self.counters.invalid_messages += 1
                if exc.close_code is not None:
                    await conn.close(
                        exc.close_code, "protocol error", _error(exc.code, exc.message)
                    )
                    return
                self._reply(conn, _error(exc.code, exc.message))
            except AppError as exc:
                code = public_code(exc.code)
                log.info("nvr agent message refused", nvr_id=agent.nvr_id, code=exc.code.value)
                if code in (ErrorCode.PERMISSION_DENIED, ErrorCode.UNAUTHORIZED):
                    await conn.close(CLOSE_POLICY, "refused", _error(code, exc.message))
                    return
                self._reply(conn, _error(code, exc.message))
            except Exception:
                log.exception("nvr agent message failed", nvr_id=agent.nvr_id)
                self._reply(
                    conn, _error(ErrorCode.INTERNAL_ERROR, "The server could not handle that.")
                )

    async def _dispatch(self, agent: _Agent, data: dict[str, Any]) -> None:
        try:
            message = NVR_CLIENT_MESSAGE.validate_python(data)
        except ValidationError as exc:
            raise ProtocolError(_invalid(exc)) from None
        kind = message.type
        if kind == "ping":
            self._reply(agent.conn, nvr_messages.pong(getattr(message, "ts", None) or now_ms()))
        elif kind == "pong":
            return
        elif kind == "auth":
            raise ProtocolError("Already authenticated.")
        elif isinstance(message, NvrRegister):
            await self._register(agent, message)
        elif not agent.registered:
            raise ProtocolError('Send {"type": "register", ...} first.')
        elif kind == "heartbeat":
            async with self._calls:
                await self.service.heartbeat(agent.nvr_id)
        elif isinstance(message, NvrProbeReport):
            async with self._calls:
                await self.service.probe_report(agent.nvr_id, message)

    async def _register(self, agent: _Agent, message: NvrRegister) -> None:
        async with self._ordered(agent.nvr_id), self._calls:
            reply = await self.service.register(agent.principal, message, connection=agent.conn)
        agent.registered = True  # from here on, its end is reported to the service
        if agent.conn.closing:
            return
        previous = self._current.get(agent.nvr_id)
        if previous is not None and previous is not agent:
            # One socket per NVR: the newcomer wins. The old one's end is not an outage.
            self.replaced += 1
            log.warning("nvr agent replaced by a new connection", nvr_id=agent.nvr_id)
            previous.conn.close_soon(
                CLOSE_REPLACED,
                "replaced",
                _error(ErrorCode.CONFLICT, "Another agent connected as this NVR."),
            )
        self._current[agent.nvr_id] = agent
        self._reply(agent.conn, reply)


def _invalid(exc: ValidationError) -> str:
    """A user-safe summary of a message's validation errors (never the values: URLs)."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:3]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}" if loc else str(err["msg"]))
    return "Invalid message: " + "; ".join(parts)
