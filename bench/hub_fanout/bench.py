#!/usr/bin/env python3
"""Fan-out benchmark with Beholder's hub as a fifth peer, measured by the shared orchestrator.

Loads /work/shared/peers/bench.py (read-only) unchanged and only re-points it: the peers'
servers by absolute path, the client at this directory's client.js (the shared client plus
the `beholder` auth+subscribe mode), and adds the `beholder` peer (srv_beholder.py run with
the repo's virtualenv). Every measurement (RSS, CPU, latency, steal retries, table) is the
shared code's.

  python3 bench/hub_fanout/bench.py --peers node-sio,py-sio,fastapi,websockets,beholder \
      --n 100,1000 --reps 1 --out bench/results/hub_fanout.json      [DEFLATE=1 for deflate]
env: PEERS_DIR (/tmp/peers), SHARED_PEERS (/work/shared/peers), BEHOLDER_PY (repo .venv python)
"""

import importlib.util
import os
import secrets
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get("SHARED_PEERS", "/work/shared/peers")
PEERS_DIR = os.environ.get("PEERS_DIR", "/tmp/peers")
os.environ.setdefault("PEERS_VENV", os.path.join(PEERS_DIR, "venv"))
os.environ.setdefault("PEERS_NODE", os.path.join(PEERS_DIR, "node"))
BEHOLDER_PY = os.environ.get("BEHOLDER_PY", os.path.join(REPO, ".venv", "bin", "python"))
# One API key per bench invocation, shared by server (stores its hash) and clients via env.
os.environ.setdefault("HUB_BENCH_TOKEN", f"bhk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}")

spec = importlib.util.spec_from_file_location("shared_bench", os.path.join(SHARED, "bench.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

bench.HERE = HERE  # cwd of every process: client.js resolves to this directory's copy
bench.PEERS = {
    name: (
        [arg if not arg.startswith("srv_") else os.path.join(SHARED, arg) for arg in argv],
        mode,
        url,
    )
    for name, (argv, mode, url) in bench.PEERS.items()
}
bench.PEERS["beholder"] = (
    [BEHOLDER_PY, "-u", os.path.join(HERE, "srv_beholder.py")],
    "beholder",
    "ws://127.0.0.1:{port}/ws",
)
# Same server mounted as a plain Starlette route (no FastAPI dependency machinery per client).
bench.PEERS["beholder-lite"] = (
    [BEHOLDER_PY, "-u", os.path.join(HERE, "srv_beholder.py"), "--mount=starlette"],
    "beholder",
    "ws://127.0.0.1:{port}/ws",
)

if __name__ == "__main__":
    if not any(a.startswith("--peers") for a in sys.argv[1:]):
        sys.argv += ["--peers", "node-sio,py-sio,fastapi,websockets,beholder"]
    bench.main()
