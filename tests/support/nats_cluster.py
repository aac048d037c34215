"""A private three-node NATS cluster with JetStream (``nats-server`` from Debian, routes on
loopback), for tests that kill a node: streams and KV buckets replicated on all three
(``BEHOLDER_CLUSTER_STREAM_REPLICAS=3``) survive one node's loss.

Each node keeps its client port, route port and store across :meth:`NatsCluster.kill` and
:meth:`NatsCluster.start`, so a restarted node rejoins as itself and catches up."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support.polling import wait_until
from support.processes import stop_process
from support.settings import free_port

__all__ = ["NatsCluster", "NatsNode"]


@dataclass
class NatsNode:
    """One member: ``name``, client ``port``, route port ``cluster_port``, its process."""

    name: str
    port: int
    cluster_port: int
    conf: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class NatsCluster:
    """``size`` nodes named ``n1``… in cluster ``beholder-test``; :attr:`url` lists them all
    (the form ``BEHOLDER_BUS_URL`` takes). :meth:`destroy` stops them and removes the stores."""

    def __init__(self, size: int = 3) -> None:
        binary = shutil.which("nats-server")
        if binary is None:
            pytest.skip("nats-server is not installed")
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="beholder-natsc-"))
        self.nodes = [
            NatsNode(
                f"n{i}",
                free_port(),
                free_port(),
                self.root / f"n{i}.conf",
                self.root / f"n{i}.log",
            )
            for i in range(1, size + 1)
        ]
        routes = ", ".join(f"nats-route://127.0.0.1:{n.cluster_port}" for n in self.nodes)
        for node in self.nodes:
            node.conf.write_text(
                f"server_name: {node.name}\n"
                f"listen: 127.0.0.1:{node.port}\n"
                f'jetstream {{ store_dir: "{self.root / node.name}" }}\n'
                "cluster {\n"
                "  name: beholder-test\n"
                f"  listen: 127.0.0.1:{node.cluster_port}\n"
                f"  routes: [{routes}]\n"
                "}\n"
            )

    @property
    def url(self) -> str:
        return ",".join(n.url for n in self.nodes)

    def node(self, name: str) -> NatsNode:
        return next(n for n in self.nodes if n.name == name)

    def start(self, *names: str) -> None:
        """Start the named nodes (all when none is named) and wait until they listen."""
        chosen = [self.node(n) for n in names] if names else self.nodes
        for node in chosen:
            with node.log.open("ab") as out:
                node.proc = subprocess.Popen(
                    [self.binary, "-c", str(node.conf)], stdout=out, stderr=subprocess.STDOUT
                )
        for node in chosen:
            wait_until(
                lambda node=node: self._listening(node),
                15,
                f"nats-server {node.name} to listen",
                every=0.05,
            )

    def _listening(self, node: NatsNode) -> bool:
        assert node.running(), f"nats-server {node.name} exited: {node.log.read_text()[-2000:]}"
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", node.port)) == 0

    def kill(self, name: str) -> None:
        """``kill -9`` node ``name`` (no goodbye to its routes or clients)."""
        node = self.node(name)
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait(timeout=10)
        node.proc = None

    def destroy(self) -> None:
        for node in self.nodes:
            if node.proc is not None:
                stop_process(node.proc)
            node.proc = None
        shutil.rmtree(self.root, ignore_errors=True)
