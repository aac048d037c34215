"""The camera connection section, ``BEHOLDER_CAMERA_<NAME>``."""

from __future__ import annotations

from functools import cached_property

from pydantic import (
    Field,
    field_validator,
)
from pydantic_settings import SettingsConfigDict

from beholder.camera_networks import DEFAULT_NETWORKS, NetworkPolicy, parse_networks
from beholder.config.file_values import SecretSettings
from beholder.config.types import StrTuple


class CameraSettings(SecretSettings):
    """Camera connections, ``BEHOLDER_CAMERA_<NAME>`` (see :mod:`beholder.camera_networks`)."""

    model_config = SettingsConfigDict(
        env_prefix="BEHOLDER_CAMERA_",
        env_file=None,
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    networks: StrTuple = Field(
        default=DEFAULT_NETWORKS,
        min_length=1,
        max_length=256,
        description="CIDRs and the keywords `private` and `public` camera URLs may point into",
    )

    @field_validator("networks")
    @classmethod
    def _cidrs(cls, entries: tuple[str, ...]) -> tuple[str, ...]:
        return parse_networks(entries)

    @cached_property
    def policy(self) -> NetworkPolicy:
        """The parsed allow-list (what the api and the worker check against)."""
        return NetworkPolicy.from_entries(self.networks)
