"""RTSP URL validation and credential masking, shared by the api and the worker."""

from __future__ import annotations

import functools
import ipaddress
import re
from urllib.parse import SplitResult, quote, urlsplit

from beholder.errors import InvalidInput

_HOST_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
MASK = "***"


def validate_rtsp_url(url: str) -> str:
    """Return ``url`` stripped if it is a usable ``rtsp://`` or ``rtsps://`` URL.

    Raises ``InvalidInput`` with a message a person understands otherwise.
    """
    url = url.strip()
    if not url:
        raise InvalidInput("Enter the camera's RTSP address, e.g. rtsp://192.168.1.20:554/stream1.")
    if len(url) > 2048:
        raise InvalidInput("The RTSP address is too long.")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise InvalidInput("The RTSP address must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput("The RTSP address is not a valid URL (check the port).") from exc
    if parts.scheme.lower() not in ("rtsp", "rtsps"):
        raise InvalidInput("The address must start with rtsp:// or rtsps://.")
    host = parts.hostname or ""
    if not host:
        raise InvalidInput("The RTSP address has no host, e.g. rtsp://192.168.1.20/stream1.")
    if not _valid_host(host):
        raise InvalidInput("The host in the RTSP address is not a valid name or IP address.")
    if port is not None and not 1 <= port <= 65535:
        raise InvalidInput("The port in the RTSP address must be between 1 and 65535.")
    return url


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOST_RE.match(host))


@functools.lru_cache(maxsize=4096)
def mask_rtsp_url(url: str) -> str:
    """The URL with its password (and only it) replaced, e.g. ``rtsp://admin:***@host/…``.

    A URL that cannot be parsed is masked whole after the scheme, so that nothing secret
    can leak through a malformed value. Cached: camera lists mask the same URLs on every
    read.
    """
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        scheme = url.split("://", 1)[0] if "://" in url else "rtsp"
        return f"{scheme}://{MASK}"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    user = quote(parts.username or "", safe="")
    userinfo = f"{user}:{MASK}" if parts.password is not None else user
    return SplitResult(
        parts.scheme, f"{userinfo}@{netloc}", parts.path, parts.query, parts.fragment
    ).geturl()
