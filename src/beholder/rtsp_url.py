"""RTSP URL validation and credential masking, shared by the api and the worker.

A camera URL carries its password in the user info (``rtsp://admin:pw@cam/…``) or, for many
cameras, in the query (``rtsp://cam/stream?user=admin&password=pw``). :func:`mask_rtsp_url`
hides both: the user info's password and the value of every password-like query parameter
(:func:`is_secret_param`). :func:`mask_text` does it for every URL, and every bare
``password=…`` pair, inside a free text such as an FFmpeg error message.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from urllib.parse import SplitResult, quote, unquote_plus, urlsplit

from beholder.errors import InvalidInput

_SECRET_PARAMS = frozenset({"password", "pass", "pwd", "passwd", "token", "key", "auth", "secret"})
# Also e.g. ``admin_password``, ``api_key``, ``access_token``, ``authkey``.
_SECRET_SUFFIXES = ("password", "passwd", "pwd", "token", "key", "secret")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_PAIR_IN_TEXT = re.compile(r"(?<![A-Za-z0-9_])([A-Za-z0-9_.-]+)=([^&\s'\"<>;,]+)")
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


def is_secret_param(name: str) -> bool:
    """Whether a query parameter named ``name`` holds a secret: ``password``, ``pass``,
    ``pwd``, ``passwd``, ``token``, ``key``, ``auth``, ``secret`` (any case), or a name ending
    in one of ``password``/``passwd``/``pwd``/``token``/``key``/``secret``."""
    lowered = name.strip().lower()
    return lowered in _SECRET_PARAMS or lowered.endswith(_SECRET_SUFFIXES)


def mask_query(query: str) -> str:
    """``query`` with the value of every :func:`is_secret_param` parameter replaced by
    ``***``; everything else (order, separators, encoding) kept as written."""
    if not query:
        return query
    parts = []
    for pair in query.split("&"):
        name, sep, _value = pair.partition("=")
        if sep and is_secret_param(unquote_plus(name)):
            parts.append(f"{name}={MASK}")
        else:
            parts.append(pair)
    return "&".join(parts)


@functools.lru_cache(maxsize=4096)
def mask_rtsp_url(url: str) -> str:
    """The URL with its secrets (and only them) replaced, e.g.
    ``rtsp://admin:***@host/s?user=admin&password=***``: the user info's password and the
    values of password-like query parameters (:func:`is_secret_param`).

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
    query = mask_query(parts.query)
    if parts.username is None and parts.password is None:
        if query == parts.query:
            return url
        return SplitResult(parts.scheme, parts.netloc, parts.path, query, parts.fragment).geturl()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    user = quote(parts.username or "", safe="")
    userinfo = f"{user}:{MASK}" if parts.password is not None else user
    return SplitResult(
        parts.scheme, f"{userinfo}@{netloc}", parts.path, query, parts.fragment
    ).geturl()


def mask_text(text: str) -> str:
    """``text`` with every URL in it masked (:func:`mask_rtsp_url`) and every bare
    ``name=value`` pair whose name is password-like given ``***`` as its value (FFmpeg and
    socket errors quote URLs, sometimes only their path and query)."""
    text = _URL_IN_TEXT.sub(lambda m: mask_rtsp_url(m.group(0)), text)
    return _PAIR_IN_TEXT.sub(
        lambda m: f"{m.group(1)}={MASK}" if is_secret_param(m.group(1)) else m.group(0), text
    )
