"""TLS cost bench: a new connection's time to first byte over HTTPS vs plain HTTP.

Two real ``beholder serve`` processes run side by side in the same run (no worker): one with
``--tls self-signed`` (EC P-256 certificate, TLS 1.3), one plain. For each sample a fresh TCP
connection is opened (no TLS session resumption: a full handshake every time), the TLS
handshake completes (HTTPS only), ``GET /api/system/ready`` is sent and the first byte of the
response is read. HTTPS and HTTP samples alternate so that both see the same machine load.

Reported per scheme, in ms: p50/p90/p99 of connect -> first byte, and for HTTPS the p50 of the
handshake alone (connect + TLS) -- the figure of issue 14 is ``first_byte_p50`` HTTPS vs HTTP.

Usage: ``.venv/bin/python bench/tls_latency.py [--samples 300]`` (prints one JSON object).
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.tls import serve, trust

REQUEST = b"GET /api/system/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def _one(port: int, ctx: ssl.SSLContext | None) -> tuple[float, float]:
    """(handshake done, first byte) in ms from the start of the TCP connect."""
    t0 = time.perf_counter()
    raw = socket.create_connection(("127.0.0.1", port))
    try:
        sock: socket.socket = raw
        if ctx is not None:
            sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        t1 = time.perf_counter()
        sock.sendall(REQUEST)
        first = sock.recv(1)
        t2 = time.perf_counter()
        assert first == b"H", first
        while sock.recv(65536):
            pass
    finally:
        raw.close()
    return (t1 - t0) * 1000, (t2 - t0) * 1000


def _summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    hs = [h for h, _ in samples]
    fb = [f for _, f in samples]
    return {
        "handshake_p50_ms": round(statistics.median(hs), 3),
        "first_byte_p50_ms": round(_pct(fb, 0.5), 3),
        "first_byte_p90_ms": round(_pct(fb, 0.9), 3),
        "first_byte_p99_ms": round(_pct(fb, 0.99), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ca = Path(tmp) / "tls-data" / "tls" / "ca.pem"
        with (
            serve(Path(tmp) / "tls-data", ["--tls", "self-signed"], ca=ca) as https,
            serve(Path(tmp) / "plain-data", [], ca=None) as http,
        ):
            ctx = trust(ca)
            for _ in range(args.warmup):
                _one(https.port, ctx)
                _one(http.port, None)
            tls: list[tuple[float, float]] = []
            plain: list[tuple[float, float]] = []
            for _ in range(args.samples):
                tls.append(_one(https.port, ctx))
                plain.append(_one(http.port, None))
            version = ctx.wrap_socket(
                socket.create_connection(("127.0.0.1", https.port)), server_hostname="127.0.0.1"
            )
            proto, cipher = version.version(), version.cipher()
            version.close()
    over_tls, over_http = _summary(tls), _summary(plain)
    out = {
        "samples": args.samples,
        "tls": {"protocol": proto, "cipher": cipher[0] if cipher else None},
        "https": over_tls,
        "http": over_http,
        "first_byte_p50_overhead_ms": round(
            over_tls["first_byte_p50_ms"] - over_http["first_byte_p50_ms"], 3
        ),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
