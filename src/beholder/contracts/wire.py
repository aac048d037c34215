"""Base of every wire model: camelCase JSON, UUID string ids, UTC timestamps with ``Z``.

Bus payloads are UTF-8 JSON produced by :meth:`WireModel.to_bytes` and read back with
:meth:`WireModel.from_bytes` (raises ``pydantic.ValidationError`` on a malformed payload).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    TypeAdapter,
)
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


def canonical_uuid(value: str) -> str:
    """``value`` as a canonical UUID string (36 lowercase characters with hyphens).

    Raises ``ValueError`` for anything else: every id on the wire is a UUID, so an id can
    never carry a path separator, ``..``, a NUL or a subject wildcard into a file name,
    a subject or a log line."""
    if len(value) != 36:
        raise ValueError("must be a UUID (36 characters)")
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise ValueError("must be a UUID") from None
    canonical = str(parsed)
    if canonical != value.lower():
        raise ValueError("must be a UUID in canonical form")
    return canonical


def is_id(value: str) -> bool:
    """True when ``value`` is a canonical UUID string (what :data:`Id` accepts)."""
    try:
        canonical_uuid(value)
    except ValueError:
        return False
    return True


Id = Annotated[str, AfterValidator(canonical_uuid)]
"""A UUID string id on the wire (camera, alert, command, correlation, session ids; DESIGN
§3). Validated and normalised to lowercase at the model boundary; :func:`new_id` makes one."""

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
"""An id chosen by an operator rather than generated (a worker's ``--worker-id``, default
``<host>-<pid>-<hex>``): letters, digits, ``._-`` (not first), at most 128 characters."""

PrincipalKey = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,16}:[A-Za-z0-9_-]{1,64}$")]
"""``kind:id`` of a principal (``user:<uuid>``, ``api_key:<uuid>``) as carried on the bus."""


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


# -- socket messages (hub, relay, NVR agent) ------------------------------------------------


def wire(message: BaseModel) -> dict[str, Any]:
    """The JSON-ready dict of a socket message or view: camelCase keys, every field (the
    socket contracts send every field, ``null`` when unknown, so a type has one shape)."""
    return message.model_dump(mode="json", by_alias=True)


def wire_bytes(message: BaseModel) -> bytes:
    """:func:`wire` as compact UTF-8 JSON, ready for a text frame."""
    return message.model_dump_json(by_alias=True).encode()


def union_components(
    unions: tuple[tuple[str, TypeAdapter[Any], Literal["validation", "serialization"], str], ...],
    ref_template: str,
) -> dict[str, Any]:
    """OpenAPI ``components.schemas`` for discriminated message unions: each entry
    ``(name, adapter, mode, description)`` becomes a ``oneOf`` schema called ``name`` (with
    its ``type`` discriminator), next to every model it refers to. ``mode``: ``validation``
    for what clients send, ``serialization`` for what the server sends."""
    components: dict[str, Any] = {}
    for name, adapter, mode, description in unions:
        schema = adapter.json_schema(mode=mode, ref_template=ref_template)
        components.update(schema.pop("$defs", {}))
        schema["title"] = name
        schema["description"] = description
        components[name] = schema
    return components
