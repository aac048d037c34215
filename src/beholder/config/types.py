"""Value types shared by the settings sections: lists given in the environment as JSON or
comma-separated, and rate limits in the ``limits`` notation."""

from __future__ import annotations

import json
from typing import Annotated, Any

from limits import parse as parse_rate
from pydantic import AfterValidator, BeforeValidator
from pydantic_settings import NoDecode


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


StrList = Annotated[list[str], NoDecode, BeforeValidator(_split_list)]
"""A list setting given in the environment as JSON (``["a","b"]``) or comma-separated."""
StrTuple = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_list)]
"""Like :data:`StrList`, immutable (for the frozen sub-models)."""


def _rate_limit(value: str) -> str:
    # Refused at start-up, not at first use.
    try:
        item = parse_rate(value)
    except ValueError:
        raise ValueError("not a rate limit like '10/minute'") from None
    if item.amount < 1:
        raise ValueError("must allow at least one per period")
    return value


RateLimit = Annotated[str, AfterValidator(_rate_limit)]
"""A rate in the ``limits`` notation, ``<n>/<second|minute|hour|day>`` with n >= 1."""
