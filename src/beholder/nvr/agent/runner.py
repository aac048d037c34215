"""The NVR agent's main loop (``beholder nvr-agent``): discover, connect, register, heartbeat,
probe, report — and keep doing it across server restarts and network cuts.

1. **Discovery** (template configs only): the whole channel range is probed once; the
   channels that answer (reachable, or refusing the credentials: the channel exists) are
   the ones registered. While none answers, discovery runs again every probe round.
2. **Connection** to ``<server>/api/nvrs/ws`` (http→ws, https→wss): ``auth`` with the key,
   ``register`` (identity + channels), wait for ``registered``; then a heartbeat every
   ``heartbeatSeconds`` (the server's value from ``registered`` when it sends one), and the
   last probe report is sent at once (state kept while disconnected is never lost).
3. **Probing** runs whether connected or not, every ``probeSeconds`` (:class:`~.probe.Prober`:
   bounded concurrency, short timeouts); each round's ``probe-report`` goes out when connected.
4. **Reconnection** with exponential backoff and full jitter between ``backoff_initial`` and
   ``backoff_max`` seconds, reset once a registration succeeds.

The key being refused (``UNAUTHORIZED``) or not bound to this hostname (``PERMISSION_DENIED``)
ends the agent with :data:`EXIT_REFUSED` (3): retrying cannot fix a configuration. SIGTERM or
SIGINT end it cleanly (close 1000, exit 0). No log line holds the key or a camera password.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI

from beholder.contracts.nvr import (
    ChannelProbe,
    NvrAuth,
    NvrChannel,
    NvrHeartbeat,
    NvrProbeReport,
    NvrRegister,
)
from beholder.nvr.agent.config import AgentConfig, ChannelConfig
from beholder.nvr.agent.probe import Prober, ProbeResult
from beholder.rtsp_url import mask_rtsp_url

if TYPE_CHECKING:
    from pydantic import BaseModel

log = structlog.get_logger(__name__)

EXIT_OK = 0
EXIT_REFUSED = 3
WS_PATH = "/api/nvrs/ws"
_FATAL_CODES = {"UNAUTHORIZED", "PERMISSION_DENIED"}


class Refused(Exception):
    """The server refused this agent's key or identity (not worth retrying)."""


class NotRegistered(Exception):
    """The server answered ``register`` with an error worth retrying (e.g. unavailable)."""


_RETRIED = (OSError, TimeoutError, ConnectionClosed, InvalidStatus, NotRegistered)
"""What ends a session and is retried after a backoff."""


def socket_url(server: str) -> str:
    """``ws(s)://host[:port]/api/nvrs/ws`` for a server URL given as http(s) or ws(s)."""
    parts = urlsplit(server.strip())
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError("the server must be an http(s):// or ws(s):// URL")
    path = parts.path.rstrip("/")
    if not path.endswith(WS_PATH):
        path += WS_PATH
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def report_entry(number: int, result: ProbeResult) -> ChannelProbe:
    """One channel of a ``probe-report``."""
    return ChannelProbe(
        number=number,
        reachable=result.reachable,
        latency_ms=result.latency_ms,
        codec=result.codec[:32] if result.codec else None,
        width=result.width if result.width and result.width <= 16384 else None,
        height=result.height if result.height and result.height <= 16384 else None,
        error=result.error.value if result.error is not None else None,
    )


def dumps(message: BaseModel) -> str:
    """An agent message as sent: camelCase JSON, unset optional fields left out."""
    return message.model_dump_json(by_alias=True, exclude_none=True)


class Backoff:
    """Exponential backoff with full jitter: the n-th delay is uniform in
    ``[0.5, 1] × min(maximum, initial × 2ⁿ)`` seconds."""

    def __init__(self, initial: float = 1.0, maximum: float = 30.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.attempt = 0

    def next(self) -> float:
        ceiling = min(self.maximum, self.initial * (2**self.attempt))
        self.attempt = min(self.attempt + 1, 32)
        return float(ceiling * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not crypto

    def reset(self) -> None:
        self.attempt = 0


class Agent:
    """One agent for one NVR. :meth:`run` until ``stop`` is set; returns the exit code."""

    def __init__(
        self,
        config: AgentConfig,
        server: str,
        api_key: str,
        *,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.config = config
        self.url = socket_url(server)
        self._api_key = api_key
        self.prober = Prober(config.probe_timeout, config.probe_concurrency)
        self.backoff = Backoff(backoff_initial, backoff_max)
        self.connect_timeout = connect_timeout
        self.heartbeat_seconds = config.heartbeat_seconds
        self.channels: dict[int, ChannelConfig] = (
            {} if config.is_template else {c.number: c for c in config.all_channels()}
        )
        self.candidates = {c.number: c for c in config.all_channels()}
        self.last_report: dict[int, ProbeResult] = {}
        self.stop = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._registered = asyncio.Event()
        self._changed = asyncio.Event()  # the channel set changed: register again
        self.nvr_id: str | None = None

    # -- messages ----------------------------------------------------------------------------

    def register_message(self) -> NvrRegister:
        """The ``register`` message for the current channel set."""
        nvr = self.config.nvr
        return NvrRegister(
            type="register",
            hostname=nvr.hostname,
            device_name=nvr.device_name or nvr.hostname,
            region=nvr.region,
            site=nvr.site,
            model=nvr.model,
            firmware=nvr.firmware,
            channels=[
                NvrChannel(number=c.number, name=c.name, url=c.url)
                for c in sorted(self.channels.values(), key=lambda c: c.number)
            ],
        )

    def report_message(self) -> NvrProbeReport:
        """``probe-report`` of the last round (registered channels only)."""
        return NvrProbeReport(
            type="probe-report",
            channels=[
                report_entry(n, r)
                for n, r in sorted(self.last_report.items())
                if n in self.channels
            ],
        )

    # -- probing -----------------------------------------------------------------------------

    async def probe_round(self) -> None:
        """Probe the registered channels (or, while a template found none, the whole range),
        keep the results and send them when connected."""
        discovering = self.config.is_template and not self.channels
        targets = self.candidates if discovering else self.channels
        results = await self.prober.many({n: c.url for n, c in targets.items()})
        for number, result in results.items():
            if not result.reachable:
                log.info(
                    "channel unreachable",
                    channel=number,
                    error=result.error.value if result.error else None,
                    detail=result.detail,
                    url=mask_rtsp_url(targets[number].url),
                )
        if discovering:
            found = {n: targets[n] for n, r in results.items() if _answers(r)}
            log.info("channel discovery", probed=len(results), found=sorted(found))
            if found:
                self.channels = found
                self._changed.set()
        self.last_report = {n: r for n, r in results.items() if n in self.channels}
        await self._send_report()

    async def _send_report(self) -> None:
        ws = self._ws
        if ws is None or not self._registered.is_set() or not self.last_report:
            return
        with contextlib.suppress(ConnectionClosed):
            await ws.send(dumps(self.report_message()))

    async def _probe_loop(self) -> None:
        while not self.stop.is_set():
            try:
                await self.probe_round()
            except Exception:  # never let one round end the agent
                log.exception("probe round failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.probe_seconds):
                    await self.stop.wait()

    # -- connection --------------------------------------------------------------------------

    async def run(self) -> int:
        """Probe and stay connected until :attr:`stop` is set (or the key is refused)."""
        if self.config.is_template:
            await self.probe_round()  # discovery before the first register
        prober = asyncio.create_task(self._probe_loop(), name="nvr-agent-probe")
        try:
            while not self.stop.is_set():
                try:
                    await self._session()
                except Refused as exc:
                    log.error("server refused this agent; exiting", reason=str(exc))
                    return EXIT_REFUSED
                except (
                    OSError,
                    TimeoutError,
                    ConnectionClosed,
                    InvalidStatus,
                    NotRegistered,
                ) as exc:
                    log.warning("connection lost", error=_describe(exc))
                except Exception:
                    log.exception("agent session failed")
                if self.stop.is_set():
                    break
                delay = self.backoff.next()
                log.info("reconnecting", in_seconds=round(delay, 2), attempt=self.backoff.attempt)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self.stop.wait()
        finally:
            prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await prober
        return EXIT_OK

    async def _session(self) -> None:
        """One connection: auth, register, then heartbeats and reports until it closes."""
        self._registered.clear()
        async with asyncio.timeout(self.connect_timeout):
            ws = await connect(self.url, open_timeout=self.connect_timeout, max_size=2**20)
        try:
            self._ws = ws
            await ws.send(dumps(NvrAuth(type="auth", token=self._api_key)))
            self._changed.clear()  # this register carries the channels known now
            await ws.send(dumps(self.register_message()))
            async with asyncio.timeout(self.connect_timeout):
                while not self._registered.is_set():
                    self._handle(await ws.recv())
            self.backoff.reset()
            await self._send_report()  # the last state, kept while disconnected
            await self._connected(ws)
        finally:
            self._ws = None
            self._registered.clear()
            with contextlib.suppress(Exception):
                await ws.close(1000 if self.stop.is_set() else 1001)

    async def _connected(self, ws: ClientConnection) -> None:
        reader = asyncio.create_task(self._read(ws), name="nvr-agent-read")
        stopper = asyncio.create_task(self.stop.wait(), name="nvr-agent-stop")
        changed = asyncio.create_task(self._changed.wait(), name="nvr-agent-changed")
        next_beat = 0.0
        try:
            while not reader.done() and not stopper.done():
                if changed.done():  # discovery found channels: register them
                    self._changed.clear()
                    changed = asyncio.create_task(self._changed.wait(), name="nvr-agent-changed")
                    await ws.send(dumps(self.register_message()))
                now = time.monotonic()
                if now >= next_beat:
                    beat = NvrHeartbeat(type="heartbeat", ts=int(time.time() * 1000))
                    await ws.send(dumps(beat))
                    next_beat = now + self.heartbeat_seconds
                await asyncio.wait(
                    {reader, stopper, changed},
                    timeout=max(0.0, next_beat - time.monotonic()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            if reader.done():
                reader.result()  # raises why the connection ended
        finally:
            for task in (reader, stopper, changed):
                task.cancel()
            await asyncio.gather(reader, stopper, changed, return_exceptions=True)

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            self._handle(raw)

    def _handle(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("server sent a message that is not JSON")
            return
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "registered":
            self.nvr_id = message.get("nvrId")
            seconds = message.get("heartbeatSeconds")
            if isinstance(seconds, int | float) and seconds > 0:
                # the server's silence limit is counted in its heartbeats: never be slower
                self.heartbeat_seconds = min(self.config.heartbeat_seconds, float(seconds))
            log.info(
                "registered",
                nvr_id=self.nvr_id,
                channels=len(self.channels),
                cameras_created=message.get("camerasCreated"),
                cameras_updated=message.get("camerasUpdated"),
            )
            self._registered.set()
        elif kind == "ping":
            ws = self._ws
            if ws is not None:
                reply = json.dumps({"type": "pong", "ts": message.get("ts")})
                asyncio.get_running_loop().create_task(_send_quietly(ws, reply))
        elif kind == "error":
            nested = message.get("error")
            error: dict[str, Any] = nested if isinstance(nested, dict) else message
            code = str(error.get("code"))
            log.warning("server error", code=code, message=error.get("message"))
            if code in _FATAL_CODES:
                raise Refused(f"{code}: {error.get('message')}")
            if not self._registered.is_set():
                raise NotRegistered(code)


def _answers(result: ProbeResult) -> bool:
    """A channel exists when it is reachable or refuses our credentials."""
    return result.reachable or (result.error is not None and result.error.value == "unauthorized")


async def _send_quietly(ws: ClientConnection, text: str) -> None:
    with contextlib.suppress(ConnectionClosed):
        await ws.send(text)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionClosed):
        rcvd = exc.rcvd
        return f"closed {rcvd.code} {rcvd.reason}" if rcvd else "closed"
    if isinstance(exc, NotRegistered):
        return f"register refused: {exc}"
    if isinstance(exc, InvalidStatus):
        return f"HTTP {exc.response.status_code}"
    return f"{type(exc).__name__}: {exc}"


def run_agent(config: AgentConfig, server: str, api_key: str) -> int:
    """Run an :class:`Agent` in a fresh event loop until SIGTERM/SIGINT; the exit code."""

    async def main() -> int:
        try:
            agent = Agent(config, server, api_key)
        except (ValueError, InvalidURI) as exc:
            log.error("bad server URL", error=str(exc))
            return 2
        loop = asyncio.get_running_loop()
        stop: Callable[[], None] = agent.stop.set
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        log.info(
            "nvr agent starting",
            server=agent.url,
            hostname=config.nvr.hostname,
            channels=len(agent.candidates),
            template=config.is_template,
        )
        code = await agent.run()
        log.info("nvr agent stopped", exit_code=code)
        return code

    return asyncio.run(main())
