"""Reading the tree from the environment: variable names, and one line per bad variable."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from pydantic import (
    BaseModel,
    ValidationError,
)
from pydantic_settings import BaseSettings
from pydantic_settings import SettingsError as SourceError

from beholder.config.file_values import SecretFileError
from beholder.config.settings import SECTIONS, Settings

_SECRET_SUFFIXES = ("password", "secret_key", "token", "database_url")  # never echoed back
_USERINFO = re.compile(r"//[^/@\s]*@")


def env_name(model: type[BaseModel], field: str) -> str:
    """The environment variable that sets ``model.field`` (e.g. ``BEHOLDER_WORKER_SAMPLE_FPS``)."""
    prefix = str(model.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def env_variables() -> Iterator[tuple[str, type[BaseModel], str]]:
    """``(variable, model, field)`` for every setting of the tree, sections excluded."""
    for model in SECTIONS:
        for field, info in model.model_fields.items():
            if info.annotation in SECTIONS:
                continue
            yield env_name(model, field), model, field


class SettingsError(ValueError):
    """A setting is out of bounds or malformed. ``str()`` is one line per bad variable:
    ``invalid setting BEHOLDER_X=<value>: <reason>`` (secrets are not echoed)."""


def _describe(exc: ValidationError) -> str:
    by_title = {model.__name__: model for model in SECTIONS}
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        model: type[BaseModel] = by_title.get(exc.title, Settings)
        loc = [str(part) for part in err["loc"]]
        # Walk into a section given as a value (``Settings(worker={...})``).
        while len(loc) > 1:
            annotation = model.model_fields.get(loc[0])
            nested = annotation.annotation if annotation is not None else None
            if not (isinstance(nested, type) and issubclass(nested, BaseModel)):
                break
            model, loc = nested, loc[1:]
        field = loc[0] if loc else "?"
        value = err.get("input")
        if field.endswith(_SECRET_SUFFIXES):
            shown = "<hidden>"
        elif isinstance(value, str):
            shown = _USERINFO.sub("//***@", value)  # nats://user:pass@host
        else:
            shown = json.dumps(value, default=str)
        reason = " ".join(str(err["msg"]).split()).removeprefix("Value error, ")
        lines.append(f"invalid setting {env_name(model, field)}={shown}: {reason}")
    return "\n".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides winning (CLI flags).

    Raises :class:`SettingsError` (one line per bad variable) when a value is out of bounds
    or cannot be parsed."""
    clean: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    problems: list[str] = []
    # Each section is read on its own so that one bad section does not hide another's errors.
    for name, info in Settings.model_fields.items():
        section = info.annotation
        if not (isinstance(section, type) and issubclass(section, BaseSettings)):
            continue
        given = clean.get(name)
        if given is not None and not isinstance(given, dict):
            continue
        try:
            # a dict override (CLI flags of one section) wins over that section's variables
            clean[name] = section(**(given or {}))
        except (ValidationError, SourceError) as exc:
            problems.append(_problem(exc))
            clean[name] = section.model_construct()  # stand-in: report Settings' own errors too
    try:
        settings = Settings(**clean)
    except (ValidationError, SourceError) as exc:
        problems.append(_problem(exc))
    if problems:
        raise SettingsError("\n".join(problems))
    return settings


def _problem(exc: ValidationError | SourceError) -> str:
    if isinstance(exc, ValidationError):
        return _describe(exc)
    if isinstance(exc, SecretFileError):
        return str(exc)  # already one line naming the variables, without the secret
    # A variable pydantic-settings could not decode at all (a section given as bad JSON).
    return f"invalid setting: {' '.join(str(exc).split())}"
