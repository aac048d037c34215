"""aioice (under aiortc): which local addresses ICE offers, which remote ones it checks.

Two hooks, both guarding what live view exposes, so both **fail closed**:

* **Host-address hook** — :func:`install_host_address_hook` wraps the module function
  ``aioice.ice.get_host_addresses`` (the one ``Connection.gather_candidates`` calls) once per
  process. The wrapper returns the addresses of the :func:`host_addresses` context (a
  ``ContextVar``) when one is active and otherwise behaves exactly like the original, so code
  that does not opt in is unaffected. The context must be active around
  ``setLocalDescription`` (gathering happens there; the tasks it spawns copy the context).
  If the function is gone it raises :class:`~beholder._compat.HookUnavailable` (live view
  does not start rather than offer every interface).
* **Remote-address guard** — :func:`guard_connection` reaches each aioice ``Connection`` of an
  aiortc peer connection (``RTCIceTransport._connection``, private) and wraps two of its
  private methods, ``_add_remote_candidate`` (mDNS-resolved candidates) and
  ``check_incoming`` (peer-reflexive candidates learnt from incoming checks), so that an
  address the predicate refuses is ignored. If any of them cannot be reached it raises
  :class:`~beholder._compat.HookUnavailable` and the caller refuses the connection.

Verified against aioice 0.13 / aiortc 1.16 (``tests/unit/test_compat.py``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any

import aioice.ice

from beholder._compat import HookUnavailable

log = logging.getLogger(__name__)

_HOSTS: ContextVar[tuple[str, ...] | None] = ContextVar("beholder_ice_hosts", default=None)
_ORIGINAL: Callable[[bool, bool], list[str]] | None = None

# Private methods of aioice.ice.Connection the guard wraps -> how to get the remote address
# out of their positional arguments (bound methods: no ``self``).
_GUARDED: dict[str, Callable[[tuple[Any, ...]], str]] = {
    # _add_remote_candidate(remote_candidate, network_host)
    "_add_remote_candidate": lambda args: str(args[1]),
    # check_incoming(message, addr: (host, port), protocol)
    "check_incoming": lambda args: str(args[1][0]),
}


def _unavailable(what: str) -> HookUnavailable:
    return HookUnavailable(
        "Live view is not available on this server.",
        detail=f"aioice/aiortc internals changed ({what}); refusing rather than running "
        "without the ICE address policy",
    )


def install_host_address_hook() -> None:
    """Wrap ``aioice.ice.get_host_addresses`` so :func:`host_addresses` can pick the addresses.

    Idempotent. Raises :class:`HookUnavailable` when aioice no longer has the function."""
    global _ORIGINAL
    if _ORIGINAL is not None:
        return
    original = getattr(aioice.ice, "get_host_addresses", None)
    if original is None or not callable(original):
        raise _unavailable("aioice.ice.get_host_addresses is gone")

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        hosts = _HOSTS.get()
        if hosts is None:
            return list(original(use_ipv4, use_ipv6))
        out: list[str] = []
        for h in hosts:
            version = ipaddress.ip_address(h).version
            if (version == 4 and use_ipv4) or (version == 6 and use_ipv6):
                out.append(h)
        return out

    get_host_addresses.__wrapped__ = original  # type: ignore[attr-defined]
    aioice.ice.get_host_addresses = get_host_addresses
    _ORIGINAL = original


def host_address_hook_active() -> bool:
    """True when aioice's gathering currently goes through the hook."""
    return _ORIGINAL is not None and getattr(
        aioice.ice.get_host_addresses, "__wrapped__", None
    ) is (_ORIGINAL)


@contextlib.contextmanager
def host_addresses(hosts: Sequence[str] | None) -> Iterator[None]:
    """Within this context, ICE gathering offers exactly ``hosts`` (IP literals).

    ``None`` or empty: aioice's default (every interface except loopback)."""
    install_host_address_hook()
    token = _HOSTS.set(tuple(hosts) if hosts else None)
    try:
        yield
    finally:
        _HOSTS.reset(token)


def ice_connections(pc: Any) -> list[Any]:
    """The distinct aioice ``Connection`` objects of an aiortc ``RTCPeerConnection``.

    Raises :class:`HookUnavailable` when a transceiver's connection cannot be reached."""
    out: list[Any] = []
    seen: set[int] = set()
    for transceiver in pc.getTransceivers():
        try:
            conn = transceiver.sender.transport.transport._connection
        except AttributeError as exc:
            raise _unavailable("RTCIceTransport._connection") from exc
        if not isinstance(conn, aioice.ice.Connection):
            raise _unavailable(f"RTCIceTransport._connection is a {type(conn).__name__}")
        if id(conn) not in seen:
            seen.add(id(conn))
            out.append(conn)
    return out


def guard_connection(pc: Any, allowed: Callable[[str], bool]) -> int:
    """Make every aioice ``Connection`` of ``pc`` ignore remote addresses for which
    ``allowed(address)`` is False. Call after ``setRemoteDescription``.

    Returns how many connections were guarded. Raises :class:`HookUnavailable` (nothing is
    wrapped then) when a connection or one of the guarded methods cannot be reached."""
    conns = ice_connections(pc)
    for conn in conns:
        for name in _GUARDED:
            if not callable(getattr(conn, name, None)):
                raise _unavailable(f"aioice.ice.Connection.{name}")
    for conn in conns:
        for name, addr_of in _GUARDED.items():
            _wrap(conn, name, addr_of, allowed)
    return len(conns)


def _wrap(
    conn: Any, name: str, addr_of: Callable[[tuple[Any, ...]], str], allowed: Callable[[str], bool]
) -> None:
    method = getattr(conn, name)

    def guarded(*args: Any) -> Any:
        addr = addr_of(args)
        if not allowed(addr):
            log.info("ignored remote ICE address %s outside the allowed networks", addr)
            return None
        return method(*args)

    guarded.__wrapped__ = method  # type: ignore[attr-defined]
    setattr(conn, name, guarded)


def is_guarded(conn: Any) -> bool:
    """True when every guarded method of an aioice ``Connection`` goes through the guard."""
    return all(hasattr(getattr(conn, name, None), "__wrapped__") for name in _GUARDED)


__all__ = [
    "guard_connection",
    "host_address_hook_active",
    "host_addresses",
    "ice_connections",
    "install_host_address_hook",
    "is_guarded",
]
