"""Snapshot load on a real ``beholder serve``: cameras streaming with face detection on while
clients ask for ``GET /api/cameras/{id}/snapshot.jpg`` as fast as they can.

Why: the snapshot's JPEG encode converts the camera's latest sampled frame on an executor
thread while the ingest thread (motion gate) and a detection thread convert the same frame.
Unguarded, those concurrent PyAV conversions crashed the process (a segmentation fault in
CI); the snapshot also froze on the first requested frame. This harness runs the same load
on each given source tree in turn, in one invocation (``--tree label=path``, default: this
checkout; an older commit via ``git worktree add /tmp/old <commit>``), so the figures are
side by side on the same machine.

What runs per tree: the GStreamer RTSP fixture with the three shared clips (one server for
the whole run), ``beholder serve`` with ``PYTHONPATH=<tree>/src`` (embedded defaults, its
own data dir, ``BEHOLDER_WORKER_SNAPSHOT_CACHE`` from ``--snapshot-cache``, the HTTP rate
limits raised out of the way), ``--cameras``
cameras started and PROCESSING, then ``--clients`` HTTP clients per camera looping on the
snapshot for ``--seconds``.

Reported per tree: requests, answers by status, latency p50/p95/p99 (ms) of 200s, distinct
pictures per camera (a frozen snapshot gives 1), whether the server was still alive at the
end, when it died (the run of that tree ends there) and of which signal, "Fatal Python
error"/segfault lines in its log, cameras not PROCESSING at the end.

Usage::

    git worktree add /tmp/beholder-old 0cc22a7
    .venv/bin/python bench/snapshot_load.py --tree old=/tmp/beholder-old --tree new=. \\
        --cameras 6 --seconds 180 --json bench/results/snapshot_load.json
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from soak import CLIPS, Auth, Clock, Errors, Serve, log_tail, pct  # noqa: E402

from fixtures.rtsp_server import RtspServer, free_port  # noqa: E402
from support.polling import eventually  # noqa: E402


async def _start_cameras(
    client: httpx.AsyncClient, auth: Auth, rtsp: RtspServer, n: int
) -> list[str]:
    ids = []
    for i in range(n):
        mount = CLIPS[i % len(CLIPS)][0]
        r = await client.post(
            "/api/cameras",
            json={
                "name": f"snap-{i:02d}",
                "rtspUrl": rtsp.url(mount),
                "faceDetectionEnabled": True,
            },
            headers=await auth.headers(),
        )
        r.raise_for_status()
        ids.append(str(r.json()["id"]))
        r = await client.post(f"/api/cameras/{ids[-1]}/start", headers=await auth.headers())
        r.raise_for_status()

    async def all_processing() -> bool:
        r = await client.get("/api/cameras", headers=await auth.headers())
        return all(c["status"] == "PROCESSING" for c in r.json()["items"] if c["id"] in ids)

    await eventually(all_processing, 90, "every camera PROCESSING", every=0.5)
    return ids


async def _hammer(
    client: httpx.AsyncClient,
    auth: Auth,
    camera_id: str,
    done: asyncio.Event,
    t0: float,
    latencies: list[float],
    statuses: Counter[str],
    refusals: Counter[str],
    last_refusal: dict[str, float],
    pictures: dict[str, set[str]],
) -> None:
    """Loop on one camera's snapshot until ``done`` (the run started at ``t0``, monotonic
    s); fills the latency (ms), status, refusal (error code and message -> count, and
    the last one's time into the run, s) and picture (hashes) tallies."""
    while not done.is_set():
        t = time.perf_counter()
        try:
            r = await client.get(
                f"/api/cameras/{camera_id}/snapshot.jpg", headers=await auth.headers()
            )
        except httpx.HTTPError as exc:
            statuses[type(exc).__name__] += 1
            await asyncio.sleep(0.2)  # the server may be gone: do not spin
            continue
        statuses[str(r.status_code)] += 1
        if r.status_code != 200:
            try:
                err = r.json()["error"]
                key = f"{err['code']}: {err['message']}"
            except (ValueError, KeyError, TypeError):
                key = r.text[:120]
            refusals[key] += 1
            last_refusal[key] = round(time.monotonic() - t0, 1)
        else:
            latencies.append((time.perf_counter() - t) * 1000)
            pictures[camera_id].add(hashlib.blake2b(r.content, digest_size=8).hexdigest())


async def run_tree(
    label: str, tree: Path, rtsp: RtspServer, args: argparse.Namespace
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"beholder-snap-{label}-"))
    env = {
        "PYTHONPATH": str(tree.resolve() / "src"),
        "BEHOLDER_WORKER_SNAPSHOT_CACHE": str(args.snapshot_cache),
        # One client address and one principal ask far past the default limits on purpose.
        "BEHOLDER_RATE_LIMIT_PER_IP": "1000000/minute",
        "BEHOLDER_RATE_LIMIT_PER_PRINCIPAL": "1000000/minute",
    }
    serve = Serve(tmp, free_port(), env)
    out: dict[str, Any] = {"tree": str(tree), "serveLog": str(serve.log_path)}
    try:
        async with httpx.AsyncClient(base_url=serve.base, timeout=15) as client:

            async def ready() -> bool:
                try:
                    return (await client.get("/api/system/ready")).status_code == 200
                except httpx.HTTPError:
                    return False

            await eventually(ready, 60, "serve ready", every=0.3)
            auth = Auth(client, Errors(Clock()))  # refreshes the token ahead of expiry
            await auth.login()
            ids = await _start_cameras(client, auth, rtsp, args.cameras)
            latencies: list[float] = []
            statuses: Counter[str] = Counter()
            refusals: Counter[str] = Counter()
            last_refusal: dict[str, float] = {}
            pictures: dict[str, set[str]] = defaultdict(set)
            t0 = time.monotonic()
            done = asyncio.Event()
            died_after: float | None = None

            async def watch() -> None:
                # Ends the run after --seconds, or as soon as the server process is gone.
                nonlocal died_after
                while time.monotonic() - t0 < args.seconds:
                    if not serve.alive():
                        died_after = round(time.monotonic() - t0, 1)
                        break
                    await asyncio.sleep(0.1)
                done.set()

            await asyncio.gather(
                watch(),
                *(
                    _hammer(
                        client,
                        auth,
                        cid,
                        done,
                        t0,
                        latencies,
                        statuses,
                        refusals,
                        last_refusal,
                        pictures,
                    )
                    for cid in ids
                    for _ in range(args.clients)
                ),
            )
            elapsed = time.monotonic() - t0
            alive = serve.alive()
            not_processing: dict[str, str] = {}
            if alive:
                r = await client.get("/api/cameras", headers=await auth.headers())
                r.raise_for_status()
                not_processing = {
                    c["name"]: c["status"]
                    for c in r.json()["items"]
                    if c["id"] in ids and c["status"] != "PROCESSING"
                }
        out |= {
            "seconds": round(elapsed, 1),
            "requests": sum(statuses.values()),
            "statuses": dict(statuses),
            "refusals": dict(refusals),
            "lastRefusalSecond": last_refusal,
            "okPerSecond": round(len(latencies) / elapsed, 1),
            "latencyMs": {
                q: None if (v := pct(latencies, p)) is None else round(v, 1)
                for q, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
            },
            "distinctPicturesPerCamera": sorted(len(v) for v in pictures.values()),
            "aliveAtEnd": alive,
            "diedAfterSeconds": died_after,
            "notProcessingAtEnd": not_processing,
        }
    finally:
        out["shutdown"] = serve.stop()
        code = out["shutdown"].get("exitCode")
        if isinstance(code, int) and code < 0:
            out["killedBySignal"] = signal.Signals(-code).name  # SIGSEGV: a crash
        text = serve.log_path.read_text(errors="replace")
        out["fatalLines"] = [
            ln[:200]
            for ln in text.splitlines()
            if "Fatal Python error" in ln or "Segmentation fault" in ln
        ][:5]
        if out["fatalLines"] or not out.get("aliveAtEnd", False):
            out["logTail"] = log_tail(serve.log_path, 15)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--tree", action="append", default=[], help="label=path (repeatable)")
    ap.add_argument("--cameras", type=int, default=6)
    ap.add_argument("--clients", type=int, default=2, help="concurrent clients per camera")
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--snapshot-cache", type=float, default=0.0, help="s (0: every new sample)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    trees = [t.split("=", 1) for t in args.tree] or [["this", str(ROOT)]]
    tmp = Path(tempfile.mkdtemp(prefix="beholder-snap-rtsp-"))
    rtsp = RtspServer(dict(CLIPS), log_path=tmp / "rtsp.log")
    rtsp.start()
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    try:
        for label, path in trees:
            print(f"{label}: {args.cameras} cameras, {args.clients} clients each, {args.seconds} s")
            res = asyncio.run(run_tree(label, Path(path), rtsp, args))
            results[label] = res
            print(json.dumps({k: v for k, v in res.items() if k != "logTail"}, indent=1))
            if "logTail" in res:
                print(res["logTail"])
    finally:
        rtsp.stop()
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    bad = [
        lbl
        for lbl, _ in trees
        if results[lbl].get("fatalLines") or not results[lbl].get("aliveAtEnd")
    ]
    return 1 if bad else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
