"""The NVR agent's YAML configuration (``nvr.yaml``, documented in ``docs/NVR_AGENT.md``).

Shape (camelCase keys; ``channels`` **or** ``template``, not both)::

    server: https://beholder.example:8080     # optional; --server wins
    nvr: {hostname: site-a-nvr, deviceName: "Site A", region: north, site?, model?, firmware?}
    heartbeatSeconds: 10                       # 0.1 … 3600
    probeSeconds: 30                           # 0.1 … 86400
    probeTimeout: 3                            # s per RTSP request, 0.1 … 60
    probeConcurrency: 8                        # probes in flight, 1 … 256
    channels:
      - {number: 1, name: "Gate", url: "rtsp://user:pass@192.168.1.20:554/ch1"}
    template:
      preset: hikvision | dahua | generic      # generic needs url with {n}
      url: "rtsp://{host}:{port}/live/{n}"     # generic only; {host} {port} {n} filled in
      host: 192.168.1.20
      port: 554                                # optional, default 554
      username: admin
      password: ${NVR_PASSWORD}                # or passwordFile: /etc/beholder/nvr.pass
      channels: "1-16"                         # ranges and lists: "1-4,8,10-12", [1, 2], 5

Every string may use ``${NAME}`` (or ``${NAME:-default}``) for an environment variable;
an unset variable without default is an error naming the key. ``passwordFile`` (a channel's
or the template's) reads the password from a file (first line, trailing newline stripped).

Errors: :class:`ConfigError`, one line per problem, ``<key.path>: <reason>`` — never the
value of a password or a URL's credentials (URLs are masked by
:func:`beholder.rtsp_url.mask_rtsp_url` wherever they are shown).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from beholder.contracts.nvr import Hostname, Label, Region, Reported
from beholder.errors import InvalidInput
from beholder.rtsp_url import mask_rtsp_url, validate_rtsp_url

MAX_CHANNELS = 1024
MAX_CHANNEL_NUMBER = 9999
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

PRESETS: dict[str, str] = {
    "hikvision": "rtsp://{host}:{port}/Streaming/Channels/{n}01",
    "dahua": "rtsp://{host}:{port}/cam/realmonitor?channel={n}&subtype=0",
}
"""Vendor URL templates (``{n}``: channel number). Dahua's also fits Amcrest and most OEMs."""


class ConfigError(Exception):
    """The configuration cannot be used; ``str()`` is one line per problem, credential-free."""


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def _check_url(url: str) -> str:
    try:
        return validate_rtsp_url(url)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


def _read_password_file(path: str) -> str:
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read the password file ({exc.strerror or 'error'})") from None
    lines = text.splitlines()
    return lines[0] if lines else ""


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    """``url`` with ``username``/``password`` (percent-encoded) as its user info, replacing
    any it had; unchanged when ``username`` is ``None``."""
    if username is None:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    user = quote(username, safe="")
    info = user if password is None else f"{user}:{quote(password, safe='')}"
    return urlunsplit((parts.scheme, f"{info}@{netloc}", parts.path, parts.query, parts.fragment))


def parse_channel_numbers(spec: str | int | list[int]) -> list[int]:
    """Channel numbers of ``"1-16"``, ``"1-4,8,10-12"``, ``[1, 2]`` or ``5``: sorted, unique,
    each in 1 … 9999, at most 1024. Raises ``ValueError`` (a person-readable reason)."""
    numbers: set[int] = set()
    items: list[Any] = (
        spec if isinstance(spec, list) else [spec] if isinstance(spec, int) else spec.split(",")
    )
    for item in items:
        if isinstance(item, bool):
            raise ValueError("channel numbers must be integers")
        if isinstance(item, int):
            lo = hi = item
        else:
            text = str(item).strip()
            m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", text)
            if m is None:
                raise ValueError(f'"{text}" is not a channel number or range like "1-16"')
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            if hi < lo:
                raise ValueError(f'range "{text}" goes backwards')
        if lo < 1 or hi > MAX_CHANNEL_NUMBER:
            raise ValueError(f"channel numbers must be between 1 and {MAX_CHANNEL_NUMBER}")
        if hi - lo + 1 + len(numbers) > MAX_CHANNELS:
            raise ValueError(f"at most {MAX_CHANNELS} channels")
        numbers.update(range(lo, hi + 1))
    if not numbers:
        raise ValueError("give at least one channel")
    return sorted(numbers)


class ChannelConfig(_Model):
    """One explicit channel. ``username``/``password``/``passwordFile`` override the URL's
    user info (so the URL itself can stay credential-free)."""

    number: int = Field(ge=1, le=MAX_CHANNEL_NUMBER)
    name: str | None = Field(default=None, min_length=1, max_length=128)
    url: str
    username: str | None = Field(default=None, max_length=256)
    password: str | None = Field(default=None, max_length=256, repr=False)
    password_file: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_url(v)

    @model_validator(mode="after")
    def _credentials(self) -> ChannelConfig:
        if self.password_file is not None:
            if self.password is not None:
                raise ValueError("give password or passwordFile, not both")
            self.password = _read_password_file(self.password_file)
        if self.username is not None:
            self.url = with_credentials(self.url, self.username, self.password)
        return self

    def __repr_args__(self) -> Any:  # repr()/str() never show credentials
        yield "number", self.number
        yield "name", self.name
        yield "url", mask_rtsp_url(self.url)


class TemplateConfig(_Model):
    """A vendor preset or URL template and a range of channel numbers."""

    preset: Literal["hikvision", "dahua", "generic"]
    url: str | None = Field(default=None, max_length=2048)
    host: str | None = Field(default=None, min_length=1, max_length=253)
    port: int = Field(default=554, ge=1, le=65535)
    username: str | None = Field(default=None, max_length=256)
    password: str | None = Field(default=None, max_length=256, repr=False)
    password_file: str | None = None
    channels: str | int | list[int]
    name: str | None = Field(default=None, max_length=120)
    """Optional camera name pattern with ``{n}``; default: the server's ``"<device> ch<n>"``."""

    @field_validator("channels")
    @classmethod
    def _numbers(cls, v: str | int | list[int]) -> str | int | list[int]:
        parse_channel_numbers(v)
        return v

    @model_validator(mode="after")
    def _shape(self) -> TemplateConfig:
        if self.preset == "generic":
            if not self.url or "{n}" not in self.url:
                raise ValueError('preset generic needs url with "{n}" for the channel number')
            if "{host}" in self.url and not self.host:
                raise ValueError("url uses {host}: give host")
        else:
            if self.url is not None:
                raise ValueError(f"preset {self.preset} builds the URL itself; drop url")
            if not self.host:
                raise ValueError(f"preset {self.preset} needs host")
        if self.password_file is not None:
            if self.password is not None:
                raise ValueError("give password or passwordFile, not both")
            self.password = _read_password_file(self.password_file)
        for n in (1, MAX_CHANNEL_NUMBER):  # the template must make a valid URL
            _check_url(self._raw_url(n))
        return self

    def _raw_url(self, n: int) -> str:
        pattern = self.url if self.preset == "generic" else PRESETS[self.preset]
        assert pattern is not None
        host = self.host or ""
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return (
            pattern.replace("{host}", host).replace("{port}", str(self.port)).replace("{n}", str(n))
        )

    def expand(self) -> list[ChannelConfig]:
        """One channel per number of the range, URL built and credentials filled in."""
        out = []
        for n in parse_channel_numbers(self.channels):
            url = with_credentials(self._raw_url(n), self.username, self.password)
            name = self.name.replace("{n}", str(n)) if self.name else None
            out.append(ChannelConfig(number=n, name=name, url=url))
        return out


class NvrIdentity(_Model):
    """Who the agent registers as (the hostname must be the one its key is bound to)."""

    hostname: Hostname
    device_name: Label | None = None
    region: Region | None = None
    site: Label | None = None
    model: Reported | None = None
    firmware: Reported | None = None


class AgentConfig(_Model):
    """The whole ``nvr.yaml``. Seconds are floats."""

    server: str | None = None
    nvr: NvrIdentity
    heartbeat_seconds: float = Field(default=10.0, ge=0.1, le=3600)
    probe_seconds: float = Field(default=30.0, ge=0.1, le=86400)
    probe_timeout: float = Field(default=3.0, ge=0.1, le=60)
    probe_concurrency: int = Field(default=8, ge=1, le=256)
    channels: list[ChannelConfig] | None = Field(default=None, max_length=MAX_CHANNELS)
    template: TemplateConfig | None = None

    @field_validator("server")
    @classmethod
    def _server(cls, v: str | None) -> str | None:
        if v is not None and urlsplit(v).scheme not in ("http", "https", "ws", "wss"):
            raise ValueError("server must be an http(s):// or ws(s):// URL")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> AgentConfig:
        if (self.channels is None) == (self.template is None):
            raise ValueError("give either channels (explicit) or template (preset + range)")
        if self.channels is not None:
            numbers = [c.number for c in self.channels]
            if len(set(numbers)) != len(numbers):
                raise ValueError("channel numbers must be unique")
        return self

    @property
    def is_template(self) -> bool:
        """True when channels come from a template (probed, only answering ones reported)."""
        return self.template is not None

    def all_channels(self) -> list[ChannelConfig]:
        """The explicit channels, or the template's whole range."""
        if self.channels is not None:
            return list(self.channels)
        assert self.template is not None
        return self.template.expand()


def expand_env(value: Any, env: dict[str, str], path: str = "") -> Any:
    """``value`` (parsed YAML) with ``${NAME}`` / ``${NAME:-default}`` replaced in every
    string. Raises :class:`ConfigError` naming the key of an unset variable."""
    if isinstance(value, dict):
        return {k: expand_env(v, env, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, env, f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"{path or '<root>'}: environment variable {name} is not set")

    return _ENV.sub(sub, value)


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{loc}: {mask_rtsp_url(msg) if '://' in msg else msg}")
    return "\n".join(lines)


def parse_config(text: str, env: dict[str, str] | None = None) -> AgentConfig:
    """Validate a YAML document. Raises :class:`ConfigError`."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"not valid YAML{where}") from None
    if not isinstance(raw, dict):
        raise ConfigError("<root>: the configuration must be a mapping of keys")
    raw = expand_env(raw, dict(os.environ) if env is None else env)
    try:
        return AgentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def load_config(path: str | Path, env: dict[str, str] | None = None) -> AgentConfig:
    """Read and validate ``path``. Raises :class:`ConfigError` (also for an unreadable file)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_config(text, env)
