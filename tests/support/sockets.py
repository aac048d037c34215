"""Real sockets for the camera-network tests: a listening socket that must see no
connection, and a tiny RTSP server that redirects."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator

__all__ = ["RedirectingCamera", "listener", "pending"]


@contextlib.contextmanager
def listener(host: str = "127.0.0.1") -> Iterator[socket.socket]:
    """A listening TCP socket (port 0); the test checks nothing ever connects to it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        sock.listen(8)
        yield sock


def pending(sock: socket.socket) -> bool:
    """Whether a connection is waiting on the listening ``sock`` (does not block)."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


class RedirectingCamera:
    """A tiny RTSP server on 127.0.0.1: OPTIONS 200, DESCRIBE ``302 Location: <target>``."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.describes = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, path: str = "cam") -> str:
        return f"rtsp://127.0.0.1:{self.port}/{path}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    lines = head.decode("latin-1").split("\r\n")
                    method = lines[0].split(" ", 1)[0]
                    cseq = next(
                        (
                            line.split(":", 1)[1].strip()
                            for line in lines
                            if line.lower().startswith("cseq:")
                        ),
                        "1",
                    )
                    if method == "DESCRIBE":
                        self.describes += 1
                        reply = (
                            f"RTSP/1.0 302 Found\r\nCSeq: {cseq}\r\n"
                            f"Location: {self.location}\r\n\r\n"
                        )
                    else:
                        reply = (
                            f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n"
                            "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n"
                        )
                    conn.sendall(reply.encode())

    def close(self) -> None:
        self.sock.close()
