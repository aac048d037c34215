"""ICE policy for live view: which local addresses are offered, which remote ones are used.

aiortc, left alone, (a) adds Google's public STUN server when given no ``iceServers`` and
(b) lets aioice offer every interface address *except loopback*, and (c) runs connectivity
checks towards whatever candidates the peer sends. Beholder wants: no outside server unless
configured, the host addresses of ``BEHOLDER_WEBRTC_HOSTS`` (``127.0.0.1`` in tests), and no
check sent outside the configured peer networks. This module is the one place that bends
aiortc/aioice to that:

* :func:`rtc_configuration` always passes an explicit ``iceServers`` list (empty by default).
* **Host-address hook** and **remote-address guard**: the two hooks into aioice's private API
  live in :mod:`beholder._compat.aioice` (re-exported here: :func:`install_host_address_hook`,
  :func:`host_addresses`); both fail closed with
  :class:`~beholder._compat.HookUnavailable`.
* :func:`filter_sdp_candidates` drops ``a=candidate`` lines whose address is outside the
  allowed networks before the offer is applied, and :func:`guard_connection` makes mDNS
  candidates (checked after resolution) and peer-reflexive candidates learnt from incoming
  checks obey the same rule.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable, Sequence

import ifaddr
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

from beholder._compat import aioice as _aioice
from beholder._compat.aioice import host_addresses as host_addresses
from beholder._compat.aioice import (
    install_host_address_hook as install_host_address_hook,
)
from beholder.config import LiveViewSettings, reveal

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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
    ``setRemoteDescription``. Returns how many connections were guarded.

    Raises :class:`~beholder._compat.HookUnavailable` (fail closed: the caller refuses the
    viewer) when this aioice/aiortc cannot be guarded."""
    if networks is None:
        return 0
    nets = tuple(networks)
    return _aioice.guard_connection(pc, lambda address: address_allowed(address, nets))


def rtc_configuration(settings: LiveViewSettings) -> RTCConfiguration:
    """``RTCConfiguration`` with only the configured STUN/TURN servers (none by default)."""
    servers: list[RTCIceServer] = []
    for url in settings.webrtc_ice_servers:
        if url.startswith(("turn:", "turns:")):
            servers.append(
                RTCIceServer(
                    urls=url,
                    username=settings.webrtc_turn_username,
                    credential=reveal(settings.webrtc_turn_password),
                )
            )
        else:
            servers.append(RTCIceServer(urls=url))
    return RTCConfiguration(iceServers=servers)
