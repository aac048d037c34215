"""ICE policy for live view: which local addresses are offered, which remote ones are used.

aiortc, left alone, (a) adds Google's public STUN server when given no ``iceServers`` and
(b) lets aioice offer every interface address *except loopback*, and (c) runs connectivity
checks towards whatever candidates the peer sends. Beholder wants: no outside server unless
configured, the host addresses of ``BEHOLDER_WEBRTC_HOSTS`` (``127.0.0.1`` in tests), and no
check sent outside the configured peer networks. This module is the one place that bends
aiortc/aioice to that:

* :func:`rtc_configuration` always passes an explicit ``iceServers`` list (empty by default).
* **Host-address hook** — :func:`install_host_address_hook` wraps
  ``aioice.ice.get_host_addresses`` (the function ``Connection.gather_candidates`` calls) once
  per process. The wrapper returns the addresses of the :func:`host_addresses` context
  (a ``ContextVar``) when one is active and otherwise behaves exactly like the original, so
  code that does not opt in is unaffected. The context must be active around
  ``setLocalDescription`` (gathering happens there; the tasks it spawns copy the context).
  Verified against aioice 0.13; :func:`install_host_address_hook` raises ``RuntimeError`` if
  the function it wraps disappears, so an upgrade cannot silently reintroduce the default.
* **Remote-candidate filter** — :func:`filter_sdp_candidates` drops ``a=candidate`` lines whose
  address is outside the allowed networks before the offer is applied, and
  :func:`guard_connection` wraps two methods of each aioice ``Connection`` of a peer
  connection so that mDNS candidates (checked after resolution) and peer-reflexive
  candidates learned from incoming checks obey the same rule.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any

import aioice.ice
import ifaddr
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

from beholder.config import LiveViewSettings

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_HOSTS: ContextVar[tuple[str, ...] | None] = ContextVar("beholder_ice_hosts", default=None)
_ORIGINAL: Callable[[bool, bool], list[str]] | None = None


def install_host_address_hook() -> None:
    """Wrap ``aioice.ice.get_host_addresses`` so :func:`host_addresses` can pick the addresses.

    Idempotent. Raises ``RuntimeError`` when aioice no longer has the function."""
    global _ORIGINAL
    if _ORIGINAL is not None:
        return
    original = getattr(aioice.ice, "get_host_addresses", None)
    if original is None or not callable(original):
        raise RuntimeError("aioice.ice.get_host_addresses is gone; update beholder's ICE hook")

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


def interface_networks() -> list[Network]:
    """Networks of the machine's interfaces (as aioice would offer them, plus loopback)."""
    nets: list[Network] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            addr = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            with contextlib.suppress(ValueError):
                nets.append(ipaddress.ip_network(f"{addr}/{ip.network_prefix}", strict=False))
    return nets


def allowed_networks(settings: LiveViewSettings) -> list[Network] | None:
    """Networks a remote candidate must fall in; ``None`` means any address is allowed.

    Explicit ``webrtc_peer_networks`` win (``0.0.0.0/0`` / ``::/0`` to allow all). Otherwise:
    any address when STUN/TURN servers are configured (NAT traversal needs it), else the
    networks of the configured host addresses (the machine's interface networks when the
    host address of an interface is configured; loopback → 127.0.0.0/8), else every
    interface network of the machine."""
    if settings.webrtc_peer_networks:
        return [ipaddress.ip_network(n, strict=False) for n in settings.webrtc_peer_networks]
    if settings.webrtc_ice_servers:
        return None
    iface = interface_networks()
    if not settings.webrtc_hosts:
        return iface
    nets: list[Network] = []
    for host in settings.webrtc_hosts:
        addr = ipaddress.ip_address(host)
        if addr.is_loopback:
            nets.append(ipaddress.ip_network("127.0.0.0/8" if addr.version == 4 else "::1/128"))
            continue
        matching = [n for n in iface if addr in n]
        nets.extend(matching or [ipaddress.ip_network(host)])
    return nets


def address_allowed(address: str, networks: Iterable[Network] | None) -> bool:
    """True when ``address`` (an IP literal) is inside one of ``networks`` (``None``: all).

    Hostnames (mDNS ``*.local``) are not IP literals and return False."""
    if networks is None:
        return True
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return any(ip in n for n in networks)


def filter_sdp_candidates(sdp: str, networks: Sequence[Network] | None) -> tuple[str, int]:
    """Drop ``a=candidate`` lines outside ``networks`` from an SDP; returns (sdp, dropped).

    mDNS candidates (``*.local``) are kept when ``guard_connection`` can check them after
    resolution (it always can with aioice 0.13); TCP candidates are dropped (aioice is UDP)."""
    if networks is None:
        return sdp, 0
    kept: list[str] = []
    dropped = 0
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            if len(parts) < 8:
                dropped += 1
                continue
            transport, address = parts[2].lower(), parts[4]
            is_mdns = address.endswith(".local")
            if transport != "udp" or not (is_mdns or address_allowed(address, networks)):
                dropped += 1
                continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n", dropped


def guard_connection(pc: RTCPeerConnection, networks: Sequence[Network] | None) -> int:
    """Make every aioice ``Connection`` of ``pc`` ignore remote addresses outside ``networks``
    (mDNS-resolved and peer-reflexive candidates included). Call after
    ``setRemoteDescription``. Returns how many connections were guarded."""
    if networks is None:
        return 0
    nets = tuple(networks)
    guarded = 0
    seen: set[int] = set()
    for transceiver in pc.getTransceivers():
        conn = _ice_connection(transceiver)
        if conn is None or id(conn) in seen:
            continue
        seen.add(id(conn))
        _wrap(conn, "_add_remote_candidate", lambda args: args[1], nets)
        _wrap(conn, "check_incoming", lambda args: args[1][0], nets)
        guarded += 1
    return guarded


def _ice_connection(transceiver: Any) -> Any:
    with contextlib.suppress(AttributeError):
        return transceiver.sender.transport.transport._connection
    return None


def _wrap(
    conn: Any, name: str, addr_of: Callable[[tuple[Any, ...]], str], nets: tuple[Network, ...]
) -> None:
    method = getattr(conn, name, None)
    if method is None:
        log.warning("aioice Connection has no %s; remote candidate guard incomplete", name)
        return

    def guarded(*args: Any) -> Any:
        addr = addr_of(args)
        if not address_allowed(addr, nets):
            log.info("ignored remote ICE address %s outside the allowed networks", addr)
            return None
        return method(*args)

    setattr(conn, name, guarded)


def rtc_configuration(settings: LiveViewSettings) -> RTCConfiguration:
    """``RTCConfiguration`` with only the configured STUN/TURN servers (none by default)."""
    servers: list[RTCIceServer] = []
    for url in settings.webrtc_ice_servers:
        if url.startswith(("turn:", "turns:")):
            servers.append(
                RTCIceServer(
                    urls=url,
                    username=settings.webrtc_turn_username,
                    credential=settings.webrtc_turn_password,
                )
            )
        else:
            servers.append(RTCIceServer(urls=url))
    return RTCConfiguration(iceServers=servers)
