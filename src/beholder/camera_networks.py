"""Which networks the worker may connect to for a camera (``BEHOLDER_CAMERA_NETWORKS``).

A camera URL is operator input: without a policy, the worker can be pointed at the host it
runs on (``127.0.0.1``, ``[::1]``, ``0.0.0.0``), at a cloud metadata service
(``169.254.169.254``) or at any port of the internal network, and its status would tell
who can read it whether the port is open. This module is the one place that decides.

:class:`NetworkPolicy` is the parsed allow-list. Its entries are CIDRs (``10.1.0.0/16``,
``127.0.0.0/8``) or two keywords:

* ``private``: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 and fc00::/7 (where cameras live);
* ``public``: globally routable unicast addresses (:attr:`ipaddress.IPv4Address.is_global`),
  which leaves out loopback, link-local (169.254/16, fe80::/10), ``0.0.0.0/8``, carrier-grade
  NAT (100.64/10), the documentation, benchmark and reserved ranges (240/4 and the
  broadcast address 255.255.255.255), deprecated IPv6 site-local (fec0::/10) and multicast.

The default is ``private,public``. Whatever the list says, the unspecified addresses
(``0.0.0.0``, ``::``: Linux connects them to the local host) and multicast addresses are
refused: neither can be a camera. An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) is
judged as the IPv4 address it carries.

:func:`resolve_camera` / :func:`resolve_camera_async` resolve a camera URL's host (every
address it has), refuse it when *any* address falls outside the policy, and return a
:class:`CameraTarget` whose ``url`` names the checked IP literal (credentials, port, path
and query kept): the worker connects to exactly the address it checked, so a name cannot
resolve to an allowed address for the check and to a refused one for the connect.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

PRIVATE_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
"""What the ``private`` keyword stands for."""

KEYWORDS = ("private", "public")
DEFAULT_NETWORKS = KEYWORDS
"""``BEHOLDER_CAMERA_NETWORKS`` when unset."""


class AddressRefused(ValueError):
    """A camera address falls outside the allow-list.

    ``address``: the refused IP (``str``); ``host``: the host as written in the URL.
    ``str()`` is a sentence for operators and the log (it names the address, never a port
    or a credential)."""

    def __init__(self, host: str, address: str) -> None:
        self.host = host
        self.address = address
        if host == address:
            text = f"the address {address} is outside BEHOLDER_CAMERA_NETWORKS"
        else:
            text = f"{host} resolves to {address}, outside BEHOLDER_CAMERA_NETWORKS"
        super().__init__(text)


def parse_networks(entries: Iterable[str]) -> tuple[str, ...]:
    """Normalise ``BEHOLDER_CAMERA_NETWORKS`` entries (keywords lower-cased, CIDRs in their
    canonical form). Raises ``ValueError`` naming the first entry that is neither."""
    out: list[str] = []
    for raw in entries:
        entry = raw.strip()
        if entry.lower() in KEYWORDS:
            out.append(entry.lower())
            continue
        try:
            out.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError as exc:
            raise ValueError(
                f"{entry!r} is neither a CIDR (e.g. 10.1.0.0/16) nor one of {', '.join(KEYWORDS)}"
            ) from exc
    return tuple(out)


def _normalise(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is not None:
            return mapped
        if address.scope_id:
            return ipaddress.IPv6Address(str(address).split("%", 1)[0])
    return address


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is a globally routable unicast address (the ``public`` keyword)."""
    address = _normalise(address)
    if address.is_multicast or address.is_reserved or not address.is_global:
        return False
    return not (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    """The parsed allow-list (see the module docstring). Immutable; build it with
    :meth:`from_entries`."""

    networks: tuple[IPNetwork, ...]
    public: bool

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> NetworkPolicy:
        """From ``BEHOLDER_CAMERA_NETWORKS`` entries (raises ``ValueError`` on a bad one)."""
        networks: list[IPNetwork] = []
        public = False
        for entry in parse_networks(entries):
            if entry == "public":
                public = True
            elif entry == "private":
                networks.extend(PRIVATE_NETWORKS)
            else:
                networks.append(ipaddress.ip_network(entry))
        return cls(tuple(networks), public)

    def allows(self, address: IPAddress | str) -> bool:
        """Whether the worker may connect to ``address`` (an IP, not a name)."""
        ip = _normalise(ipaddress.ip_address(address) if isinstance(address, str) else address)
        if ip.is_unspecified or ip.is_multicast or str(ip) == "255.255.255.255":
            return False
        if self.public and is_public(ip):
            return True
        return any(ip.version == net.version and ip in net for net in self.networks)

    def check_literal(self, url: str) -> None:
        """Refuse a URL whose host is an IP literal outside the policy (``AddressRefused``).

        A host name passes: it is resolved, and checked, when the worker connects."""
        host = urlsplit(url).hostname or ""
        address = _literal(host)
        if address is not None and not self.allows(address):
            raise AddressRefused(host, str(address))


@dataclass(frozen=True, slots=True)
class CameraTarget:
    """Where to connect for a camera: ``url`` is the camera URL with its host replaced by
    ``address`` (the checked IP literal); ``port`` is the TCP port (554 / 322 by default);
    ``host`` is the host as written in the original URL."""

    url: str
    host: str
    address: str
    port: int


def endpoint(url: str) -> tuple[str, int]:
    """``(host, port)`` an ``rtsp://`` or ``rtsps://`` URL connects to (ports 554 / 322 by
    default). ``host`` is ``""`` when the URL has none."""
    parts = urlsplit(url)
    default = 322 if parts.scheme.lower() == "rtsps" else 554
    return parts.hostname or "", parts.port or default


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def pin_url(url: str, address: str) -> str:
    """``url`` with its host replaced by the IP ``address`` (IPv6 in brackets); the user
    info, port, path, query and fragment are kept as written."""
    parts = urlsplit(url)
    netloc = parts.netloc
    userinfo, sep, _old_host = netloc.rpartition("@")
    host = f"[{address}]" if ":" in address else address
    port = f":{parts.port}" if parts.port is not None else ""
    new_netloc = f"{userinfo}{sep}{host}{port}"
    return SplitResult(parts.scheme, new_netloc, parts.path, parts.query, parts.fragment).geturl()


def _choose(
    url: str, host: str, port: int, addresses: Sequence[str], policy: NetworkPolicy
) -> CameraTarget:
    if not addresses:
        raise OSError(f"no address for {host}")
    for address in addresses:
        if not policy.allows(address):
            raise AddressRefused(host, address)
    chosen = addresses[0]
    return CameraTarget(url=pin_url(url, chosen), host=host, address=chosen, port=port)


def _addresses(infos: Iterable[Any]) -> list[str]:
    seen: list[str] = []
    for info in infos:
        address = str(_normalise(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])))
        if address not in seen:
            seen.append(address)
    return seen


Resolver = Callable[..., list[Any]]


def resolve_camera(
    url: str, policy: NetworkPolicy, *, getaddrinfo: Resolver = socket.getaddrinfo
) -> CameraTarget:
    """Resolve ``url``'s host (blocking) and return where to connect.

    Raises :class:`AddressRefused` when any address of the host is outside ``policy``,
    ``socket.gaierror`` when the name does not resolve and ``ValueError`` when the URL has
    no host."""
    host, port = endpoint(url)
    if not host:
        raise ValueError("the camera URL has no host")
    literal = _literal(host)
    if literal is not None:
        return _choose(url, host, port, [str(_normalise(literal))], policy)
    infos = getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return _choose(url, host, port, _addresses(infos), policy)


async def resolve_camera_async(url: str, policy: NetworkPolicy) -> CameraTarget:
    """:func:`resolve_camera` off the event loop (a worker thread, as the loop's own
    ``getaddrinfo`` does); same checks, same errors."""
    return await asyncio.to_thread(resolve_camera, url, policy)


__all__ = [
    "DEFAULT_NETWORKS",
    "PRIVATE_NETWORKS",
    "AddressRefused",
    "CameraTarget",
    "NetworkPolicy",
    "endpoint",
    "is_public",
    "parse_networks",
    "pin_url",
    "resolve_camera",
    "resolve_camera_async",
]
