"""A minimal RTSP/1.0 client for probing (RFC 2326/7826): one TCP (or TLS for ``rtsps``)
connection, requests one at a time, Basic and Digest authentication (RFC 7617, RFC 7616 /
2617: MD5, MD5-sess, SHA-256, ``qop=auth`` or none).

Why not a library: the one asyncio RTSP client on PyPI (``aiortsp``) is built around
playing a session; a probe needs only OPTIONS and DESCRIBE with strict time and size
bounds and exact error classes, which is this small module.

Bounds: a response head at most 16 KiB, a body at most 64 KiB (more is a protocol error).
Timeouts are the caller's (``asyncio.timeout`` around each call).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import ssl
from base64 import b64encode
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024
USER_AGENT = "beholder-nvr-agent"


class RtspProtocolError(Exception):
    """The peer does not speak RTSP as expected (message is credential-free)."""


@dataclass(slots=True)
class Response:
    """One RTSP response. ``headers``: lower-case names, every value kept in order."""

    status: int
    reason: str
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


@dataclass(frozen=True, slots=True)
class Target:
    """A camera URL split for the client: ``url`` is the request URI without user info."""

    host: str
    port: int
    tls: bool
    url: str
    username: str | None
    password: str | None

    @classmethod
    def of(cls, url: str) -> Target:
        """Split ``url``; raises ``ValueError`` for a URL that is not rtsp(s)://host…"""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("rtsp", "rtsps") or not parts.hostname:
            raise ValueError("not an rtsp:// URL")
        tls = scheme == "rtsps"
        port = parts.port or (322 if tls else 554)
        host = parts.hostname
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc += f":{parts.port}"
        clean = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
        user = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(host, port, tls, clean, user, password)


_CHALLENGE_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]+)')


def parse_challenges(values: list[str]) -> dict[str, dict[str, str]]:
    """``WWW-Authenticate`` header values → ``{scheme (lower): {param: value}}``."""
    out: dict[str, dict[str, str]] = {}
    for value in values:
        scheme, _, rest = value.strip().partition(" ")
        params = {
            k.lower(): (v[1:-1].replace('\\"', '"') if v.startswith('"') else v)
            for k, v in _CHALLENGE_PARAM.findall(rest)
        }
        out.setdefault(scheme.lower(), params)
    return out


def _hash(algorithm: str, text: str) -> str:
    name = "sha256" if algorithm.upper().startswith("SHA-256") else "md5"
    return hashlib.new(name, text.encode(), usedforsecurity=False).hexdigest()


class Authenticator:
    """Builds the ``Authorization`` header for each request once a challenge was seen."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password
        self.scheme: str | None = None
        self.params: dict[str, str] = {}
        self.nc = 0

    def accept(self, challenges: dict[str, dict[str, str]]) -> bool:
        """Take the strongest challenge offered (Digest over Basic); False if none fits."""
        digest = challenges.get("digest")
        if digest is not None and "nonce" in digest:
            algorithm = digest.get("algorithm", "MD5").upper()
            if algorithm in ("MD5", "MD5-SESS", "SHA-256", "SHA-256-SESS"):
                self.scheme, self.params, self.nc = "digest", digest, 0
                return True
        if "basic" in challenges:
            self.scheme, self.params = "basic", challenges["basic"]
            return True
        return False

    def header(self, method: str, uri: str) -> str | None:
        """The ``Authorization`` value for ``method uri``, or None before any challenge."""
        if self.scheme == "basic":
            token = b64encode(f"{self.username}:{self.password}".encode()).decode()
            return f"Basic {token}"
        if self.scheme != "digest":
            return None
        p = self.params
        algorithm = p.get("algorithm", "MD5")
        realm, nonce = p.get("realm", ""), p["nonce"]
        cnonce = os.urandom(8).hex()
        ha1 = _hash(algorithm, f"{self.username}:{realm}:{self.password}")
        if algorithm.upper().endswith("-SESS"):
            ha1 = _hash(algorithm, f"{ha1}:{nonce}:{cnonce}")
        ha2 = _hash(algorithm, f"{method}:{uri}")
        qops = [q.strip() for q in p.get("qop", "").split(",") if q.strip()]
        fields = [
            f'username="{self.username}"',
            f'realm="{realm}"',
            f'nonce="{nonce}"',
            f'uri="{uri}"',
        ]
        if "auth" in qops:
            self.nc += 1
            nc = f"{self.nc:08x}"
            response = _hash(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
            fields += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
        else:
            response = _hash(algorithm, f"{ha1}:{nonce}:{ha2}")
        fields.append(f'response="{response}"')
        if "algorithm" in p:
            fields.append(f"algorithm={algorithm}")
        if "opaque" in p:
            fields.append(f'opaque="{p["opaque"]}"')
        return "Digest " + ", ".join(fields)


class RtspConnection:
    """One connection to ``target``; :meth:`request` sends and reads one exchange,
    answering one authentication challenge with the URL's credentials."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.cseq = 0
        self.auth = (
            Authenticator(target.username, target.password or "")
            if target.username is not None
            else None
        )
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        """Open the connection (raises ``OSError`` subclasses: refused, unreachable…)."""
        ctx = ssl.create_default_context() if self.target.tls else None
        self._reader, self._writer = await asyncio.open_connection(
            self.target.host, self.target.port, ssl=ctx, limit=MAX_HEAD
        )

    async def close(self) -> None:
        """Close (never raises)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def request(self, method: str, extra: dict[str, str] | None = None) -> Response:
        """``method`` on the target URL; on 401 with credentials, once more authenticated.
        Raises :class:`RtspProtocolError`, ``OSError``, ``asyncio.IncompleteReadError``."""
        response = await self._exchange(method, extra)
        if response.status == 401 and self.auth is not None:
            challenges = parse_challenges(response.headers.get("www-authenticate", []))
            if self.auth.accept(challenges):
                response = await self._exchange(method, extra)
        return response

    async def _exchange(self, method: str, extra: dict[str, str] | None) -> Response:
        if self._reader is None or self._writer is None:
            raise RuntimeError("not connected")
        self.cseq += 1
        uri = self.target.url
        lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {self.cseq}", f"User-Agent: {USER_AGENT}"]
        for name, value in (extra or {}).items():
            lines.append(f"{name}: {value}")
        if self.auth is not None:
            authorization = self.auth.header(method, uri)
            if authorization is not None:
                lines.append(f"Authorization: {authorization}")
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self._writer.drain()
        return await self._read_response()

    async def _read_response(self) -> Response:
        assert self._reader is not None
        try:
            head = await self._reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise RtspProtocolError("response header too large") from None
        text = head.decode("latin-1")
        status_line, *header_lines = text.split("\r\n")
        m = re.match(r"RTSP/\d\.\d (\d{3}) ?(.*)", status_line)
        if m is None:
            raise RtspProtocolError("not an RTSP response")
        headers: dict[str, list[str]] = {}
        for line in header_lines:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise RtspProtocolError("malformed header line")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        response = Response(int(m.group(1)), m.group(2).strip(), headers)
        length = response.header("content-length")
        if length:
            if not length.isdigit() or int(length) > MAX_BODY:
                raise RtspProtocolError("bad or too large Content-Length")
            response.body = await self._reader.readexactly(int(length))
        return response
