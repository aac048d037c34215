"""The load balancer of the local cluster: nginx (Debian's ``nginx-light``) in front of the
``beholder api`` instances, with the WebSocket routes upgraded and a dead instance skipped
(``proxy_next_upstream``). The configuration is ``nginx.conf.template`` beside this file,
rendered into ``<data-dir>/proxy/nginx.conf``; nginx runs in the foreground as a child."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

TEMPLATE = "nginx.conf.template"
PLACEHOLDER = re.compile(r"\{\{\w+\}\}")
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx")


class ProxyError(RuntimeError):
    """nginx is missing or refuses the rendered configuration (message says which)."""


def find_nginx() -> str:
    """The nginx executable; :class:`ProxyError` when it is not installed."""
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in NGINX_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    raise ProxyError("nginx is not installed (Debian: apt-get install nginx-light)")


def template_text() -> str:
    """The configuration template shipped with the package."""
    return resources.files("beholder.cluster").joinpath(TEMPLATE).read_text(encoding="utf-8")


def render_config(
    api_ports: Sequence[int],
    listen_port: int,
    proxy_dir: Path,
    log_dir: Path,
    *,
    host: str = "127.0.0.1",
    template: str | None = None,
) -> str:
    """The nginx configuration for apis on ``host:<api_ports>`` behind ``host:listen_port``;
        ``proxy_dir`` holds nginx's pid and temp files, ``log_dir`` its logs (absolute paths are
        written). ValueError when there is no api port, or ``template`` (default: the shipped
    one) names a value other than ``servers``, ``listen``, ``run_dir``, ``log_dir``."""
    if not api_ports:
        raise ValueError("the load balancer needs at least one api")
    servers = "\n".join(
        f"        server {host}:{port} max_fails=1 fail_timeout=3s;" for port in api_ports
    )
    values = {
        "servers": servers,
        "listen": f"{host}:{listen_port}",
        "run_dir": str(proxy_dir.resolve()),
        "log_dir": str(log_dir.resolve()),
    }
    text = template if template is not None else template_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    left = PLACEHOLDER.search(text)
    if left:
        raise ValueError(f"the template names an unknown value {left.group(0)}")
    return text


def write_config(text: str, proxy_dir: Path) -> Path:
    """Write ``text`` to ``<proxy_dir>/nginx.conf`` (creating the dir); returns the path."""
    proxy_dir.mkdir(parents=True, exist_ok=True)
    path = proxy_dir / "nginx.conf"
    path.write_text(text, encoding="utf-8")
    return path


def nginx_argv(config: Path, nginx: str | None = None) -> list[str]:
    """The command line running nginx in the foreground on ``config`` (its prefix is the
    config's dir, so nothing is read from or written to /etc or /var)."""
    exe = nginx or find_nginx()
    return [exe, "-p", str(config.parent), "-c", str(config), "-g", "daemon off;"]


def check_config(config: Path, nginx: str | None = None) -> None:
    """``nginx -t`` on ``config``; :class:`ProxyError` with nginx's words when refused."""
    exe = nginx or find_nginx()
    done = subprocess.run(  # noqa: S603 - nginx -t of our config
        [exe, "-t", "-p", str(config.parent), "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode != 0:
        raise ProxyError(f"nginx refused {config}: {done.stderr.strip()}")
