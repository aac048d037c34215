"""Children of ``beholder cluster up``: spawned each in its own process group (a test can
SIGSTOP or kill one without touching the others), bound to the supervisor's life
(``PR_SET_PDEATHSIG``: they get SIGTERM if it dies, even by SIGKILL), logged each to its own
file, reported when they exit and stopped in reverse order of their tiers."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1


def _session_bound_to_parent() -> None:  # pragma: no cover - runs in the forked child
    os.setsid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def describe_exit(code: int) -> str:
    """``exit code 1`` or ``killed by SIGKILL`` for a ``Popen.returncode``."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class ChildSpec:
    """What to run: ``name`` (unique: ``api-1``), ``role`` (``api``, ``worker``, ``nats``,
    ``proxy``), ``argv``, the whole ``env``, the ``log`` file (appended), the ``port`` it
    listens on (None for workers) and, for workers, ``worker_id``."""

    name: str
    role: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    worker_id: str | None = None


@dataclass
class Child:
    """One running (or exited) child of a :class:`ChildSpec`."""

    spec: ChildSpec
    proc: subprocess.Popen[bytes] | None = None
    exit_code: int | None = None
    restarts: int = 0
    exited_at: float | None = None
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.alive else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Spawn the process (its output appended to the log file)."""
        self.spec.log.parent.mkdir(parents=True, exist_ok=True)
        self._close_log()
        self._log_file = self.spec.log.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603 - our own argv
            self.spec.argv,
            env=self.spec.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=_session_bound_to_parent,  # no thread runs yet when children start
        )
        self.exit_code = None
        self.exited_at = None

    def poll_exit(self) -> int | None:
        """The exit code when the process exited since the last call, else None."""
        if self.proc is None or self.exit_code is not None:
            return None
        code = self.proc.poll()
        if code is not None:
            self.exit_code = code
            self.exited_at = time.monotonic()
            self._close_log()
        return code

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the child's process group (itself and what it spawned)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    def terminate(self) -> None:
        """SIGTERM, and SIGCONT so that a SIGSTOPped child can act on it."""
        self.signal_group(signal.SIGTERM)
        self.signal_group(signal.SIGCONT)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the exit; True when it exited."""
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout=max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            return False
        self.poll_exit()
        return True

    def kill(self) -> None:
        """SIGKILL the process group and reap."""
        self.signal_group(signal.SIGKILL)
        self.wait(5)

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


class Supervisor:
    """Starts children, reports their exits through ``report`` (one line each) and stops
    them tier by tier in reverse start order (``tiers``: role names, started first to
    last; children of one tier are stopped together)."""

    def __init__(
        self,
        tiers: Sequence[str] = ("nats", "api", "worker", "proxy"),
        report: Callable[[str], None] = print,
    ) -> None:
        self.tiers = list(tiers)
        self.report = report
        self.children: list[Child] = []

    def start(self, spec: ChildSpec) -> Child:
        """Spawn ``spec`` and keep it under supervision."""
        child = Child(spec)
        child.start()
        self.children.append(child)
        return child

    def restart(self, child: Child) -> None:
        """Start an exited child again (same spec, same log file)."""
        child.restarts += 1
        child.start()
        self.report(f"cluster: {child.name} restarted (pid {child.pid})")

    def reap(self) -> list[Child]:
        """Children that exited since the last call, each reported once."""
        exited = []
        for child in self.children:
            code = child.poll_exit()
            if code is not None:
                self.report(f"cluster: {child.name} exited ({describe_exit(code)})")
                exited.append(child)
        return exited

    def stop_all(self, grace: float = 15.0) -> None:
        """SIGTERM each tier in reverse order and wait up to ``grace`` s per tier, then
        SIGKILL what is left of it. Idempotent."""
        order = [*reversed(self.tiers)]
        order += sorted({c.spec.role for c in self.children} - set(order))
        for tier in order:
            group = [c for c in self.children if c.spec.role == tier and c.alive]
            for child in group:
                child.terminate()
            deadline = time.monotonic() + grace
            for child in group:
                if not child.wait(deadline - time.monotonic()):
                    self.report(f"cluster: {child.name} did not stop in {grace:.0f} s: killed")
                    child.kill()
            self.reap()


def wait_listening(
    port: int, timeout: float, child: Child | None = None, host: str = "127.0.0.1"
) -> None:
    """Wait until ``host:port`` accepts connections. RuntimeError after ``timeout`` s, or
    at once when ``child`` exited meanwhile (its log says why)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and child.proc is not None and child.proc.poll() is not None:
            raise RuntimeError(
                f"{child.name} exited ({describe_exit(child.proc.returncode)}) before "
                f"listening on {port}: see {child.spec.log}"
            )
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    name = child.name if child is not None else f"port {port}"
    raise RuntimeError(f"{name} did not listen on {host}:{port} within {timeout:.0f} s")


def wait_logged(child: Child, text: str, timeout: float) -> None:
    """Wait until ``child``'s log file contains ``text`` (a role's own start-up event).
    RuntimeError after ``timeout`` s, or at once when the child exited meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc is not None and child.proc.poll() is not None:
            raise RuntimeError(
                f"{child.name} exited ({describe_exit(child.proc.returncode)}) during "
                f"start-up: see {child.spec.log}"
            )
        with contextlib.suppress(OSError):
            if text in child.spec.log.read_text(errors="replace"):
                return
        time.sleep(0.2)
    raise RuntimeError(f"{child.name} did not log {text!r} within {timeout:.0f} s")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on ``host`` (the kernel's pick)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
