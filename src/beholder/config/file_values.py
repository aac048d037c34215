"""Secrets from files: every secret setting ``BEHOLDER_X`` also accepts ``BEHOLDER_X_FILE``.

The Docker/Kubernetes secrets convention: ``BEHOLDER_X_FILE=/run/secrets/x`` gives the
content of that file (one trailing newline, ``\\n`` or ``\\r\\n``, stripped) as the value of
``BEHOLDER_X``. A setting is secret when its type is :class:`~pydantic.SecretStr` (optional
or not); every section of the tree derives from :class:`SecretSettings`, so the convention
holds for every secret of every section without a line per field.

Errors are one line naming the variables (never a value or a file's content):
both ``BEHOLDER_X`` and ``BEHOLDER_X_FILE`` set, or a file that cannot be read or is not
UTF-8. They raise :class:`SecretFileError`, which :func:`~beholder.config.load_settings`
reports like any other invalid setting (exit code 2 at start-up).
"""

from __future__ import annotations

import os
import types
import typing
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as SourceError

FILE_SUFFIX = "_FILE"


class SecretFileError(SourceError):
    """``BEHOLDER_X`` and ``BEHOLDER_X_FILE`` both set, or ``BEHOLDER_X_FILE`` unreadable.
    ``str()`` is one line: ``invalid setting BEHOLDER_X_FILE=<path>: <reason>``."""


def is_secret(info: FieldInfo) -> bool:
    """True when the field's type is :class:`SecretStr` or ``SecretStr | None``."""
    annotation = info.annotation
    if annotation is SecretStr:
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return SecretStr in typing.get_args(annotation)
    return False


def secret_fields(model: type[BaseSettings]) -> list[str]:
    """Names of the secret fields of ``model`` (each one accepts ``<variable>_FILE``)."""
    return [name for name, info in model.model_fields.items() if is_secret(info)]


def _environ_get(name: str) -> tuple[str, str] | None:
    """``(actual name, value)`` of a variable, matched case-insensitively like the env source."""
    if name in os.environ:
        return name, os.environ[name]
    upper = name.upper()
    for key, value in os.environ.items():
        if key.upper() == upper:
            return key, value
    return None


def read_secret_file(variable: str, path: str) -> str:
    """The content of ``path`` with one trailing newline stripped, for ``<variable>_FILE``.

    Raises :class:`SecretFileError` (one line, path and reason, never the content)."""
    shown = f"invalid setting {variable}{FILE_SUFFIX}={path}"
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise SecretFileError(f"{shown}: the file is not UTF-8 text") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SecretFileError(f"{shown}: cannot read the file ({reason})") from None
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


class SecretFileSource(PydanticBaseSettingsSource):
    """Values of the secret fields of a section read from ``<variable>_FILE`` files."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused (values come from :meth:`__call__`); required by the base class."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        prefix = str(self.config.get("env_prefix", ""))
        values: dict[str, Any] = {}
        for name in secret_fields(self.settings_cls):
            variable = f"{prefix}{name}".upper()
            given = _environ_get(variable + FILE_SUFFIX)
            if given is None:
                continue
            if _environ_get(variable) is not None:
                raise SecretFileError(
                    f"invalid setting {variable}{FILE_SUFFIX}: {variable} is also set; "
                    "set one of them"
                )
            values[name] = read_secret_file(variable, given[1])
        return values


class SecretSettings(BaseSettings):
    """Base of every settings section: adds :class:`SecretFileSource` after the environment
    (explicit keyword arguments still win; a secret set both ways is an error)."""

    model_config = SettingsConfigDict(env_file=None, extra="forbid", validate_default=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, the environment, then ``*_FILE`` secrets."""
        return (
            init_settings,
            env_settings,
            SecretFileSource(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )


def reveal(secret: SecretStr | None) -> str | None:
    """The plain value of an optional secret setting (``None`` or ``""`` when unset/empty)."""
    return None if secret is None else secret.get_secret_value()
