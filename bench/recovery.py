"""Recovery bench: how soon a camera that drops, and later comes back, is seen again.

Issue 13 item 6: "a camera is PROCESSING within 3 s of its return whatever the outage length".
One camera (the real GStreamer RTSP fixture, tests/fixtures/rtsp_server.py, serving the
two-faces clip) runs through a :class:`beholder.worker.manager.WorkerManager` on the in-memory
bus, face detection off, worker settings at their product defaults. Every status event on
``stream.status`` is timestamped on receipt. For each outage length L (``--outages``):

1. wait until the session has been PROCESSING for ``--steady`` s (default 12 s: longer than
   the 10 s of streaming after which the reconnect backoff starts over);
2. ``t_down``: the RTSP server process is killed (every client sees its connection drop);
   **noticed after** = first status event other than PROCESSING - ``t_down``;
3. L s after ``t_down`` the server is started again on the same port; ``t_up`` = when it is
   listening again; **recovered after return** = first PROCESSING event - ``t_up`` (``timeout``
   when none within ``--recover-timeout`` s);
4. also: reconnect attempts during the outage (distinct ``attempt`` values of CONNECTING
   events), the last attempt before and the first attempt after the return, and the event trace.

Several source trees are measured in one invocation, each in a fresh child process of this
script with that tree first on ``sys.path`` (``PYTHONPATH``; the child checks and reports
``beholder.__file__``). The first ``--src`` is labelled "before", the second "after" (or give
``--label`` once per ``--src``). Trees run one after the other (``--alternate``: one child per
outage and tree, interleaved, so a busy machine skews both sides alike).

Usage::

    .venv/bin/python bench/recovery.py --src /work/prev/src --src src \\
        [--outages 3 10 40 120] [--steady 12] [--recover-timeout 90] [--json out.json]

Prints a side-by-side table (outage | before noticed / recovered / attempts | after ...) and
writes JSON to ``--json`` if given. Children's stderr (FFmpeg, warnings) goes to
``--workdir``/recovery-<label>.log. Duration: about (sum of outages + per outage the steady
time and the recovery, + ~10 s start-up) per tree; the default run is about 4-5 min per tree,
9-10 min for two trees (the estimate is printed at start).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fixtures.rtsp_server import MEDIA_DIR, RtspServer

CAMERA = "00000000-0000-4000-8000-000000000000"  # ids are UUIDs on the bus
MOUNT = "cam0"
GOAL_S = 3.0
DEFAULT_OUTAGES = [3.0, 10.0, 40.0, 120.0]
STARTUP_TIMEOUT = 60.0
"""Seconds for the first PROCESSING (and for PROCESSING to come back steady between outages)."""


def _loopback_cameras() -> dict[str, Any]:
    """``{"camera": CameraSettings}`` allowing the loopback test camera, on a tree that checks
    camera networks (``BEHOLDER_CAMERA_NETWORKS``); ``{}`` on an older one."""
    try:
        from beholder.config import CameraSettings
    except ImportError:
        return {}
    return {"camera": CameraSettings(networks="private,public,127.0.0.0/8")}


def _emit(record: dict[str, Any]) -> None:
    """One JSON line on stdout (the child's only stdout output)."""
    print(json.dumps(record), flush=True)


# --------------------------------------------------------------------------------------------
# child: measures one source tree
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Event:
    t: float  # time.monotonic() on receipt
    status: str
    attempt: int | None
    error_code: str | None
    details: str | None

    def short(self, t0: float) -> str:
        s = f"{self.t - t0:+.2f} {self.status}"
        if self.attempt is not None:
            s += f"#{self.attempt}"
        if self.error_code:
            s += f"({self.error_code})"
        elif self.details:
            s += "(stall)" if self.status == "CONNECTING" else "(details)"
        return s


def _import_tree(src: str) -> Any:
    """Import ``beholder`` from ``src`` (which must come first on sys.path) and check it."""
    src_path = str(Path(src).resolve())
    if sys.path[:1] != [src_path]:
        sys.path.insert(0, src_path)
    import beholder

    where = str(Path(beholder.__file__).resolve())
    if not where.startswith(src_path + os.sep):
        raise RuntimeError(f"beholder imported from {where}, not from {src_path}")
    return beholder


async def _wait_steady(mgr: Any, steady: float, timeout: float) -> tuple[float, int]:
    """Wait until the session has been PROCESSING for ``steady`` s without a break.

    Returns (seconds waited, packets received during the steady window; -1 if unknown).
    Raises TimeoutError after ``timeout`` s.
    """
    t0 = time.monotonic()
    deadline = t0 + timeout + steady
    since: float | None = None
    packets0 = -1
    while time.monotonic() < deadline:
        session = mgr.get_session(CAMERA)
        now = time.monotonic()
        if session is not None and str(session.status.value) == "PROCESSING":
            packets = int(getattr(getattr(session, "counters", None), "packets", -1))
            if since is None:
                since, packets0 = now, packets
            elif now - since >= steady:
                got = packets - packets0 if packets0 >= 0 and packets >= 0 else -1
                return now - t0, got
        else:
            since = None
        await asyncio.sleep(0.1)
    raise TimeoutError(f"camera not PROCESSING for {steady} s within {timeout + steady} s")


def _distinct_attempts(events: list[_Event]) -> int:
    seen: set[int] = set()
    anonymous = 0
    for e in events:
        if e.status != "CONNECTING":
            continue
        if e.attempt is None:
            anonymous += 1
        else:
            seen.add(e.attempt)
    return len(seen) + anonymous


def _rounded(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


async def _one_outage(
    server: RtspServer,
    mgr: Any,
    events: list[_Event],
    outage: float,
    *,
    steady: float,
    recover_timeout: float,
) -> dict[str, Any]:
    steady_wait, steady_packets = await _wait_steady(mgr, steady, STARTUP_TIMEOUT)
    n0 = len(events)
    t_down = time.monotonic()
    await asyncio.to_thread(server.stop)  # SIGKILL first thing, then reaps the process
    t_noticed: float | None = None
    noticed: _Event | None = None
    i_noticed = -1

    def scan_noticed() -> None:
        nonlocal t_noticed, noticed, i_noticed
        if noticed is None:
            for i in range(n0, len(events)):
                if events[i].status != "PROCESSING":
                    noticed, t_noticed, i_noticed = events[i], events[i].t, i
                    return

    await asyncio.sleep(max(0.0, t_down + outage - time.monotonic()))
    scan_noticed()
    t_start_called = time.monotonic()
    await asyncio.to_thread(server.start)  # returns once the server listens again
    t_up = time.monotonic()
    deadline = t_up + recover_timeout
    recovered: _Event | None = None
    while recovered is None and time.monotonic() < deadline:
        scan_noticed()
        if noticed is not None:
            recovered = next((e for e in events[i_noticed + 1 :] if e.status == "PROCESSING"), None)
        if recovered is None:
            await asyncio.sleep(0.05)
    window = events[n0:]
    end = recovered.t if recovered is not None else time.monotonic()
    during = [e for e in window if e.t < t_up]
    until_recovered = [e for e in window if e.t <= end]
    attempts_before = [e.t for e in during if e.status == "CONNECTING"]
    attempts_after = [e.t for e in until_recovered if e.status == "CONNECTING" and e.t >= t_up]
    attempt_numbers = [
        e.attempt for e in until_recovered if e.status == "CONNECTING" and e.attempt is not None
    ]
    session = mgr.get_session(CAMERA)
    return {
        "type": "outage",
        "outage_s": outage,
        "noticed_after_s": _rounded(t_noticed - t_down if t_noticed is not None else None),
        "noticed_status": noticed.short(t_down).split(" ", 1)[1] if noticed else None,
        "recovered_after_return_s": _rounded(recovered.t - t_up if recovered else None),
        "timeout": recovered is None,
        "down_total_s": _rounded(recovered.t - t_down if recovered else None),
        "server_start_s": round(t_up - t_start_called, 3),
        "attempts_during_outage": _distinct_attempts(during),
        "attempts_until_recovered": _distinct_attempts(until_recovered),
        "max_attempt": max(attempt_numbers) if attempt_numbers else None,
        "last_attempt_before_return_s": _rounded(
            t_up - attempts_before[-1] if attempts_before else None
        ),
        "first_attempt_after_return_s": _rounded(
            attempts_after[0] - t_up if attempts_after else None
        ),
        "status_after": str(session.status.value) if session is not None else None,
        "steady_wait_s": round(steady_wait, 2),
        "steady_packets": steady_packets,
        "trace": [e.short(t_down) for e in until_recovered][:200],
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


async def _child_main(args: argparse.Namespace) -> int:
    beholder = _import_tree(args.src[0])
    from beholder.bus import BusMessage, MemoryBus
    from beholder.messages import (
        CameraCommand,
        CameraSpec,
        CommandType,
        StreamStatusEvent,
        Subjects,
    )
    from beholder.worker.manager import WorkerManager

    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    if me is not None:
        loop.add_signal_handler(signal.SIGTERM, me.cancel)
    try:  # this tree: the worker's own settings model, read from BEHOLDER_WORKER_*
        from beholder.config import WorkerSettings

        ws: Any = WorkerSettings()
        names = list(WorkerSettings.model_fields)
        manager_args: tuple[Any, dict[str, Any]] = (ws, _loopback_cameras())
    except ImportError:  # an older tree (--src): a dataclass built from Settings
        from beholder.config import Settings
        from beholder.worker.session import WorkerSettings as OldWorkerSettings

        settings = Settings()
        ws = OldWorkerSettings.from_settings(settings)
        names = [f.name for f in dataclasses.fields(ws)]
        manager_args = (settings, {"worker_settings": ws})
    _emit(
        {
            "type": "info",
            "src": str(Path(args.src[0]).resolve()),
            "beholder_file": beholder.__file__,
            "pid": os.getpid(),
            "worker_settings": {
                name: getattr(ws, name)
                for name in names
                if isinstance(getattr(ws, name), int | float | str | bool | None)
            },
        }
    )
    server = RtspServer({MOUNT: Path(args.clip)})
    await asyncio.to_thread(server.start)
    _emit({"type": "server", "pid": server.pid, "port": server.port})
    bus = MemoryBus()
    await bus.start()
    events: list[_Event] = []

    async def on_status(msg: BusMessage) -> None:
        t = time.monotonic()
        ev = StreamStatusEvent.from_bytes(msg.data)
        if ev.camera_id == CAMERA:
            events.append(_Event(t, str(ev.status.value), ev.attempt, ev.error_code, ev.details))

    await bus.subscribe(Subjects.STREAM_STATUS, on_status)
    mgr = WorkerManager(manager_args[0], bus, "bench-recovery", **manager_args[1])
    await mgr.start()
    try:
        spec = CameraSpec(
            camera_id=CAMERA,
            name=MOUNT,
            rtsp_url=server.url(MOUNT),
            face_detection_enabled=False,
        )
        cmd = CameraCommand(
            command_type=CommandType.START_STREAM, camera_id=CAMERA, payload=spec.to_wire()
        )
        t0 = time.monotonic()
        await bus.publish(Subjects.CAMERA_COMMANDS, cmd.to_bytes())
        first = await asyncio.wait_for(_first_processing(events, 0), STARTUP_TIMEOUT)
        _emit({"type": "started", "first_processing_s": round(first - t0, 3)})
        for outage in args.outages:
            try:
                result = await _one_outage(
                    server,
                    mgr,
                    events,
                    outage,
                    steady=args.steady,
                    recover_timeout=args.recover_timeout,
                )
            except TimeoutError as exc:
                _emit({"type": "error", "outage_s": outage, "error": str(exc)})
                return 1
            _emit(result)
        return 0
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(mgr.stop(), 30)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(bus.close(), 10)
        server.stop()


async def _first_processing(events: list[_Event], start: int) -> float:
    while True:
        for e in events[start:]:
            if e.status == "PROCESSING":
                return e.t
        await asyncio.sleep(0.05)


def child(args: argparse.Namespace) -> int:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    try:
        return asyncio.run(_child_main(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 130


# --------------------------------------------------------------------------------------------
# parent: one child per tree (or per tree and outage), side-by-side table
# --------------------------------------------------------------------------------------------


def _child_budget(outages: list[float], args: argparse.Namespace) -> float:
    """Upper bound for one child's run time (every wait in the child has its own timeout)."""
    per = (
        float(args.steady) + STARTUP_TIMEOUT + float(args.recover_timeout) + 40
    )  # 40: server stop/start
    return STARTUP_TIMEOUT + 60 + sum(outages) + len(outages) * per


def _estimate(outages: list[float], args: argparse.Namespace) -> float:
    """Typical run time of one child: start-up, steady time, outage, a backoff-long recovery."""
    return 10 + sum(o + float(args.steady) + 2 + min(30.0, o / 3 + 1) for o in outages)


def _kill_server(pid: int) -> None:
    """Kill a leftover RTSP server group (only if it still is our rtsp_server.py process)."""
    with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
        proc = psutil.Process(pid)
        if any("rtsp_server.py" in part for part in proc.cmdline()):
            os.killpg(pid, signal.SIGKILL)


def _run_child(
    src: str, label: str, outages: list[float], args: argparse.Namespace, log: IO[str]
) -> dict[str, Any]:
    """Run one child on ``src`` for ``outages``; returns its info and outage records."""
    src = str(Path(src).resolve())
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--src",
        src,
        "--outages",
        *(str(o) for o in outages),
        "--steady",
        str(args.steady),
        "--recover-timeout",
        str(args.recover_timeout),
        "--clip",
        str(args.clip),
    ]
    log.write(f"\n=== {label}: {' '.join(cmd)}\n")
    log.flush()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True, env=env
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    run: dict[str, Any] = {"label": label, "src": src, "results": [], "errors": []}
    servers: list[int] = []
    deadline = time.monotonic() + _child_budget(outages, args)
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                budget = _child_budget(outages, args)
                run["errors"].append(f"child exceeded its time budget ({budget:.0f} s)")
                break
            if line is None:
                break
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                log.write(f"[{label} stdout] {line}")
                continue
            kind = rec.get("type")
            if kind == "info":
                run["beholder_file"] = rec["beholder_file"]
                run["worker_settings"] = rec["worker_settings"]
                _progress(f"{label}: beholder from {rec['beholder_file']}")
            elif kind == "server":
                servers.append(int(rec["pid"]))
            elif kind == "started":
                run.setdefault("first_processing_s", []).append(rec["first_processing_s"])
            elif kind == "outage":
                run["results"].append(rec)
                _progress(
                    f"{label}: outage {rec['outage_s']:g} s: noticed after "
                    f"{_fmt(rec['noticed_after_s'])} s, recovered "
                    f"{_fmt(rec['recovered_after_return_s'], rec['timeout'], args)} s after "
                    f"return, {rec['attempts_during_outage']} attempts during the outage"
                )
            elif kind == "error":
                run["errors"].append(f"outage {rec['outage_s']:g} s: {rec['error']}")
                _progress(f"{label}: ERROR {rec['error']}")
    finally:
        if proc.poll() is None:
            proc.terminate()  # the child stops its worker and RTSP server on SIGTERM
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for pid in servers:
            _kill_server(pid)
    if proc.returncode not in (0, None):
        run["errors"].append(f"child exit code {proc.returncode} (see {log.name})")
    return run


def _progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _fmt(x: float | None, timeout: bool = False, args: argparse.Namespace | None = None) -> str:
    if timeout:
        bound = f">{args.recover_timeout:g}" if args is not None else ">"
        return f"{bound} (timeout)"
    return "-" if x is None else f"{x:.2f}"


def _labels(args: argparse.Namespace) -> list[str]:
    if args.label:
        if len(args.label) != len(args.src):
            raise SystemExit("give --label once per --src")
        return list(args.label)
    if len(args.src) == 2:
        return ["before", "after"]
    return [str(Path(s)) for s in args.src]


def _table(runs: list[dict[str, Any]], outages: list[float], args: argparse.Namespace) -> str:
    head = ["outage s"]
    for r in runs:
        head += [f"{r['label']} noticed s", f"{r['label']} recovered s", f"{r['label']} attempts"]
    rows = [head]
    for o in outages:
        row = [f"{o:g}"]
        for r in runs:
            rec = next((x for x in r["results"] if x["outage_s"] == o), None)
            if rec is None:
                row += ["n/a", "n/a", "n/a"]
                continue
            rec_s = _fmt(rec["recovered_after_return_s"], rec["timeout"], args)
            if not rec["timeout"] and rec["recovered_after_return_s"] > GOAL_S:
                rec_s += " *"
            row += [_fmt(rec["noticed_after_s"]), rec_s, str(rec["attempts_during_outage"])]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    out = [" | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    out.insert(1, "-+-".join("-" * w for w in widths))
    out.append(
        f"recovered: first PROCESSING after the server listens again; * = over the {GOAL_S:g} s "
        "goal; attempts: reconnect attempts during the outage"
    )
    for r in runs:
        ok = sum(
            1 for x in r["results"] if not x["timeout"] and x["recovered_after_return_s"] <= GOAL_S
        )
        out.append(
            f"{r['label']}: {ok}/{len(outages)} within {GOAL_S:g} s of return; "
            f"beholder from {r.get('beholder_file', '?')}"
            + (f"; errors: {'; '.join(r['errors'])}" if r["errors"] else "")
        )
    return "\n".join(out)


def parent(args: argparse.Namespace) -> int:
    labels = _labels(args)
    outages: list[float] = list(args.outages)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    est = _estimate(outages, args) * len(args.src)
    if args.alternate:
        est += 10 * len(args.src) * (len(outages) - 1)
    _progress(
        f"recovery bench: outages {' '.join(f'{o:g}' for o in outages)} s, trees "
        f"{', '.join(f'{lab}={src}' for lab, src in zip(labels, args.src, strict=True))}; "
        f"expect ~{est / 60:.0f} min"
    )
    t0 = time.monotonic()
    runs = {
        lab: {"label": lab, "src": src, "results": [], "errors": []}
        for lab, src in zip(labels, args.src, strict=True)
    }
    logs = {lab: open(work / f"recovery-{lab.replace('/', '_')}.log", "w") for lab in labels}  # noqa: SIM115
    try:
        plan: list[tuple[str, str, list[float]]]
        if args.alternate:
            plan = [
                (lab, src, [o]) for o in outages for lab, src in zip(labels, args.src, strict=True)
            ]
        else:
            plan = [(lab, src, outages) for lab, src in zip(labels, args.src, strict=True)]
        for lab, src, outs in plan:
            r = _run_child(src, lab, outs, args, logs[lab])
            acc = runs[lab]
            acc["results"] += r["results"]
            acc["errors"] += r["errors"]
            for key in ("beholder_file", "worker_settings"):
                if key in r:
                    acc[key] = r[key]
            acc.setdefault("first_processing_s", []).extend(r.get("first_processing_s", []))
    finally:
        for f in logs.values():
            f.close()
    duration = time.monotonic() - t0
    print(_table(list(runs.values()), outages, args))
    print(f"total {duration:.0f} s")
    if args.json:
        doc = {
            "bench": "recovery",
            "outages_s": outages,
            "steady_s": args.steady,
            "recover_timeout_s": args.recover_timeout,
            "alternate": args.alternate,
            "clip": str(args.clip),
            "goal_s": GOAL_S,
            "duration_s": round(duration, 1),
            "cpus": os.cpu_count(),
            "runs": list(runs.values()),
        }
        Path(args.json).write_text(json.dumps(doc, indent=2))
    return 0 if all(not r["errors"] for r in runs.values()) else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument(
        "--src",
        action="append",
        default=None,
        help="source tree to measure (its beholder package); repeat: before, after",
    )
    ap.add_argument("--label", action="append", default=None, help="one per --src")
    ap.add_argument("--outages", type=float, nargs="+", default=DEFAULT_OUTAGES)
    ap.add_argument("--steady", type=float, default=12.0, help="PROCESSING s before an outage")
    ap.add_argument("--recover-timeout", type=float, default=90.0)
    ap.add_argument("--alternate", action="store_true", help="one child per outage and tree")
    ap.add_argument("--clip", default=str(MEDIA_DIR / "headpose-two-faces.mp4"))
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "beholder-bench"))
    ap.add_argument("--json", default=None)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.src:
        args.src = [str(Path(__file__).resolve().parents[1] / "src")]
    if args.child:
        return child(args)

    def on_term(_sig: int, _frame: Any) -> None:
        raise SystemExit(143)  # runs the finally blocks: children and servers are stopped

    signal.signal(signal.SIGTERM, on_term)
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
