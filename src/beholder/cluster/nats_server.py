"""The cluster's NATS: the one at ``--nats-url`` when it answers, else a ``nats-server -js``
started as a child with its JetStream store under the data dir."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from urllib.parse import urlsplit

NATS_CANDIDATES = ("/usr/sbin/nats-server", "/usr/local/bin/nats-server", "/usr/bin/nats-server")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class NatsError(RuntimeError):
    """nats-server is missing (and no reachable server was given)."""


def host_port(url: str) -> tuple[str, int]:
    """``(host, port)`` of a ``nats://`` URL (port 4222 when absent)."""
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    return parts.hostname or "127.0.0.1", parts.port or 4222


def reachable(url: str, timeout: float = 0.5) -> bool:
    """True when something accepts a TCP connection at ``url``'s host and port."""
    host, port = host_port(url)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def find_nats_server() -> str:
    """The nats-server executable; :class:`NatsError` when it is not installed."""
    found = shutil.which("nats-server")
    if found:
        return found
    for candidate in NATS_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    raise NatsError("nats-server is not installed and no NATS answers at --nats-url")


def nats_argv(port: int, store_dir: Path, executable: str | None = None) -> list[str]:
    """``nats-server -js`` on 127.0.0.1:``port`` with its JetStream store in ``store_dir``."""
    exe = executable or find_nats_server()
    return [exe, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store_dir)]


def local_port_for(url: str | None, free_port: int) -> int:
    """The port to start our own server on: ``url``'s when it names the loopback (so the
    URL someone passed still works), else ``free_port``."""
    if url is None:
        return free_port
    host, port = host_port(url)
    return port if host in LOOPBACK else free_port
