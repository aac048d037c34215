"""JetStream key-value buckets (distributed mode): desired camera state, camera leases and
the worker registry (:mod:`beholder.contracts.cluster`).

A thin typed layer over nats-py's ``KeyValue``: revision-checked create/update/delete that
answer ``None``/``False`` on a lost race instead of raising, and a bucket opened
idempotently by whichever process comes first (a later one with other limits updates the
bucket's stream in place). Values are bytes; callers encode their wire models.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from nats.errors import Error as NatsError
from nats.js import api
from nats.js.errors import (
    BadRequestError,
    BucketNotFoundError,
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
)
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from beholder.errors import BusError

if TYPE_CHECKING:
    from nats.js.client import JetStreamContext

log = structlog.get_logger(__name__)

END_MARKER_WAIT = 2.0
"""Seconds :meth:`KvBucket.entries` waits for the next entry of the initial values before
taking what arrived as the whole content (see there)."""

_STREAM_IN_USE = 10058  # JetStream: "stream name already in use with a different configuration"


@dataclass(frozen=True, slots=True)
class KvEntry:
    """One key's current value and its revision (the bucket stream's sequence number)."""

    key: str
    value: bytes
    revision: int


@dataclass(frozen=True, slots=True)
class KvChange:
    """A change seen by :meth:`KvBucket.watch`: ``value`` is ``None`` for a delete/purge."""

    key: str
    value: bytes | None
    revision: int


class KvBucket:
    """One JetStream KV bucket. Every method raises :class:`BusError` when NATS cannot be
    reached or refuses the request for another reason than a lost race."""

    def __init__(self, kv: KeyValue, name: str) -> None:
        self._kv = kv
        self.name = name

    @classmethod
    async def open(
        cls,
        js: JetStreamContext,
        name: str,
        *,
        ttl: float | None = None,
        history: int = 1,
        replicas: int = 1,
        description: str | None = None,
    ) -> KvBucket:
        """Create bucket ``name`` (entries expire ``ttl`` s after their last write; ``None``:
        never) or open it as it is; when it exists with other limits, update them.
        Raises ``BusError``."""
        config = api.KeyValueConfig(
            bucket=name, history=history, ttl=ttl, replicas=replicas, description=description
        )
        try:
            try:
                kv = await js.create_key_value(config)
            except BadRequestError as exc:
                if exc.err_code != _STREAM_IN_USE:
                    raise
                kv = await cls._reconfigure(js, name, ttl)
        except (NatsError, BucketNotFoundError) as exc:
            raise BusError(detail=f"cannot open KV bucket {name}: {exc!r}") from exc
        return cls(kv, name)

    @staticmethod
    async def _reconfigure(js: JetStreamContext, name: str, ttl: float | None) -> KeyValue:
        """Another process created the bucket with other limits: apply ours (the last
        process to start wins; every process of a cluster should share the settings)."""
        stream = f"KV_{name}"
        info = await js.stream_info(stream)
        config = info.config
        config.max_age = ttl
        config.duplicate_window = min(120.0, ttl) if ttl else 120.0
        await js.update_stream(config)
        log.info("KV bucket limits updated", bucket=name, ttl=ttl)
        return await js.key_value(name)

    async def get(self, key: str) -> KvEntry | None:
        """The key's current entry, or ``None`` (never written, deleted or expired)."""
        try:
            entry = await self._kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return None
        except NatsError as exc:
            raise BusError(detail=f"KV get {self.name}/{key} failed: {exc!r}") from exc
        return KvEntry(key, bytes(entry.value or b""), int(entry.revision or 0))

    async def put(self, key: str, value: bytes) -> int:
        """Write ``value`` whatever is there; the new revision."""
        try:
            return int(await self._kv.put(key, value))
        except NatsError as exc:
            raise BusError(detail=f"KV put {self.name}/{key} failed: {exc!r}") from exc

    async def create(self, key: str, value: bytes) -> int | None:
        """Write ``value`` only if the key has no value now (never written, deleted or
        expired); the new revision, or ``None`` when someone else's value is there."""
        try:
            return int(await self._kv.create(key, value))
        except KeyWrongLastSequenceError:
            return None
        except NatsError as exc:
            raise BusError(detail=f"KV create {self.name}/{key} failed: {exc!r}") from exc

    async def update(self, key: str, value: bytes, last: int) -> int | None:
        """Write ``value`` only if the key's revision is still ``last`` (compare-and-set);
        the new revision, or ``None`` when it changed, was deleted or expired."""
        try:
            return int(await self._kv.update(key, value, last=last))
        except KeyWrongLastSequenceError:
            return None
        except NatsError as exc:
            raise BusError(detail=f"KV update {self.name}/{key} failed: {exc!r}") from exc

    async def delete(self, key: str, last: int | None = None) -> bool:
        """Delete the key; with ``last``, only if its revision is still ``last``. ``False``
        when that check failed."""
        try:
            await self._kv.delete(key, last=last)
        except KeyWrongLastSequenceError:
            return False
        except NatsError as exc:
            if "wrong last sequence" in str(exc).lower():
                return False
            raise BusError(detail=f"KV delete {self.name}/{key} failed: {exc!r}") from exc
        return True

    async def entries(self) -> dict[str, KvEntry]:
        """Every live key's entry (a snapshot: one watch over the bucket's current values)."""
        found: dict[str, KvEntry] = {}
        try:
            watcher = await self._kv.watchall()
            try:
                while True:
                    # Not watcher.updates(timeout): its wait_for can lose a cancel on Python
                    # 3.11 (see beholder._compat.cancel); asyncio.timeout keeps it.
                    try:
                        async with asyncio.timeout(END_MARKER_WAIT):
                            entry = await anext(watcher)
                    except TimeoutError:
                        # nats-py sends the end marker with the entry that leaves nothing
                        # pending; an entry counted pending when the watch started that
                        # expired (TTL) or was deleted before delivery never comes, and
                        # neither does the marker: what arrived is the whole content.
                        break
                    except StopAsyncIteration:  # the watcher was stopped
                        break
                    if entry is None:  # the end of the current values
                        break
                    if entry.operation in (KV_DEL, KV_PURGE):
                        found.pop(entry.key, None)
                        continue
                    found[entry.key] = KvEntry(
                        entry.key, bytes(entry.value or b""), int(entry.revision or 0)
                    )
            finally:
                await watcher.stop()  # type: ignore[no-untyped-call]
        except NoKeysError:
            return {}
        except NatsError as exc:
            raise BusError(detail=f"KV list {self.name} failed: {exc!r}") from exc
        return found

    async def watch(self, keys: str = ">") -> AsyncIterator[KvChange]:
        """Every current value matching ``keys`` (a subject pattern) and then every change,
        until the caller stops iterating. Deletes and purges come with ``value`` ``None``.
        Entries removed by the bucket's TTL produce no change (nats-server < 2.11): callers
        that need expiry re-read with :meth:`get` or :meth:`entries`."""
        try:
            watcher = await self._kv.watch(keys)
        except NatsError as exc:
            raise BusError(detail=f"KV watch {self.name} failed: {exc!r}") from exc
        try:
            async for entry in watcher:
                if entry is None:
                    continue
                deleted = entry.operation in (KV_DEL, KV_PURGE)
                yield KvChange(
                    entry.key,
                    None if deleted else bytes(entry.value or b""),
                    int(entry.revision or 0),
                )
        finally:
            with contextlib.suppress(NatsError):
                await watcher.stop()  # type: ignore[no-untyped-call]
