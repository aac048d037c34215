"""Base of every wire model: camelCase JSON, UUID string ids, UTC timestamps with ``Z``.

Bus payloads are UTF-8 JSON produced by :meth:`WireModel.to_bytes` and read back with
:meth:`WireModel.from_bytes` (raises ``pydantic.ValidationError`` on a malformed payload).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel


def utcnow() -> datetime:
    """Timezone-aware UTC now."""
    return datetime.now(UTC)


def new_id() -> str:
    """A new UUID4 as a string (IDs are UUID strings on the wire)."""
    return str(uuid.uuid4())


def iso_z(value: datetime) -> str:
    """ISO 8601 UTC with a ``Z`` suffix and millisecond precision."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


UtcDatetime = Annotated[datetime, PlainSerializer(iso_z, return_type=str, when_used="json")]
"""A datetime that goes on the wire as ISO 8601 UTC with ``Z`` (DESIGN §3)."""


class WireModel(BaseModel):
    """Base for bus payloads: camelCase aliases, accepts either spelling, ignores extras."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_wire(self) -> dict[str, Any]:
        """JSON-ready dict with camelCase keys, ``None`` fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_bytes(self) -> bytes:
        """UTF-8 JSON for the bus."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes | str) -> Self:
        """Parse a bus payload; raises ``pydantic.ValidationError`` when malformed."""
        return cls.model_validate_json(data)
