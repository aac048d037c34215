"""The connection registry's rules (no sockets, no timing): who is ended by a revocation, by
a re-check verdict and by an expiry; a revocation during a slow connect still bites; a
renewal refused means the connection is already gone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import pytest
from pydantic import ValidationError

from beholder.auth.connections import ConnectionRegistry, EndReason, Standing
from beholder.auth.roles import Principal, Role
from beholder.contracts.auth import CredentialsRevoked, RevocationReason

ALICE = Principal(kind="user", id="u1", name="alice", role=Role.OPERATOR)
BOB = Principal(kind="user", id="u2", name="bob", role=Role.VIEWER)
KEY = Principal(kind="api_key", id="k1", name="ml", role=Role.VIEWER)


class Ends:
    """Records ``end`` calls per connection name."""

    def __init__(self) -> None:
        self.calls: dict[str, list[EndReason]] = {}

    def __call__(self, name: str) -> Callable[[EndReason], None]:
        def end(reason: EndReason) -> None:
            self.calls.setdefault(name, []).append(reason)

        return end


def registry(verdicts: dict[str, Standing] | None = None) -> ConnectionRegistry:
    """A registry whose database says ``verdicts`` (everyone else: good)."""
    found = verdicts or {}

    async def standing(principals: Sequence[Principal]) -> dict[str, Standing]:
        return {p.key: found[p.key] for p in principals if p.key in found}

    return ConnectionRegistry(30.0, standing)


async def test_end_principal_ends_only_that_principals_connections_once() -> None:
    reg, ends = registry(), Ends()
    reg.register(ALICE, "hub", ends("alice-hub"))
    reg.register(ALICE, "mjpeg", ends("alice-mjpeg"))
    reg.register(BOB, "hub", ends("bob-hub"))
    reg.register(KEY, "hub", ends("key-hub"))

    assert reg.end_principal("user", "u1", EndReason.REVOKED) == 2
    assert reg.end_principal("user", "u1", EndReason.REVOKED) == 0  # already gone
    assert ends.calls == {"alice-hub": [EndReason.REVOKED], "alice-mjpeg": [EndReason.REVOKED]}
    assert {lease.principal.key for lease in reg.leases()} == {"user:u2", "api_key:k1"}
    # a user id never matches a key id, even when equal strings
    assert reg.end_principal("api_key", "u2", EndReason.REVOKED) == 0
    assert reg.stats()["ended"] == {"hub": 1, "mjpeg": 1}


async def test_unregistered_connection_is_not_ended() -> None:
    reg, ends = registry(), Ends()
    lease = reg.register(ALICE, "hub", ends("a"))
    reg.unregister(lease)
    reg.unregister(lease)  # idempotent
    assert reg.end_principal("user", "u1", EndReason.REVOKED) == 0
    assert ends.calls == {}


async def test_revocation_during_a_slow_connect_ends_it_on_register() -> None:
    reg, ends = registry(), Ends()
    before = reg.epoch
    reg.end_principal("api_key", "k1", EndReason.REVOKED)  # while the worker negotiated
    reg.register(KEY, "whep", ends("late"), epoch=before)
    reg.register(BOB, "whep", ends("bob"), epoch=before)
    after = reg.epoch
    reg.register(KEY, "whep", ends("reissued"), epoch=after)  # e.g. a new key row, same id
    assert ends.calls == {"late": [EndReason.REVOKED]}
    assert len(reg.leases("whep")) == 2


async def test_recheck_ends_gone_and_demoted_and_renews_the_good() -> None:
    reg, ends = registry({"user:u1": Standing.DEMOTED, "api_key:k1": Standing.GONE}), Ends()
    renewed: list[str] = []

    async def renew_ok() -> bool:
        renewed.append("bob")
        return True

    reg.register(ALICE, "hub", ends("alice"))
    reg.register(KEY, "whep", ends("key"), renew=renew_ok)
    bob = reg.register(BOB, "whep", ends("bob"), renew=renew_ok)

    assert await reg.recheck() == 2
    await reg.stop()  # waits for the renewals in flight
    assert ends.calls == {"alice": [EndReason.ROLE_CHANGED], "key": [EndReason.REVOKED]}
    assert renewed == ["bob"]
    assert reg.find("whep", "nothing") is None and bob.ended is False


async def test_refused_renewal_forgets_the_lease_without_ending_it() -> None:
    reg, ends = registry(), Ends()

    async def gone() -> bool:
        return False

    reg.register(KEY, "whep", ends("key"), ref="s1", renew=gone)
    assert reg.find("whep", "s1") is not None
    await reg.recheck()
    await reg.stop()
    assert reg.find("whep", "s1") is None and ends.calls == {}


async def test_expiry_ends_or_forgets() -> None:
    reg, ends = registry(), Ends()
    past = time.time() - 1
    reg.register(ALICE, "mjpeg", ends("stream"), expires_at=past)
    reg.register(BOB, "whep", ends("session"), ref="s2", expires_at=past, end_on_expiry=False)
    assert ends.calls == {"stream": [EndReason.EXPIRED]}
    assert reg.leases() == []


async def test_coroutine_ends_run_and_are_awaited_by_stop() -> None:
    reg = registry()
    done: list[EndReason] = []

    async def end(reason: EndReason) -> None:
        await asyncio.sleep(0)
        done.append(reason)

    reg.register(ALICE, "whep", end)
    reg.end_principal("user", "u1", EndReason.ROLE_CHANGED)
    await reg.stop()
    assert done == [EndReason.ROLE_CHANGED]


def test_event_reason_maps_to_the_close_reason() -> None:
    assert EndReason.of(RevocationReason.USER_DEMOTED) == EndReason.ROLE_CHANGED
    for reason in (
        RevocationReason.KEY_REVOKED,
        RevocationReason.USER_DISABLED,
        RevocationReason.USER_DELETED,
    ):
        assert EndReason.of(reason) == EndReason.REVOKED
    event = CredentialsRevoked(principal_kind="user", principal_id="u1", reason="user-disabled")
    assert CredentialsRevoked.from_bytes(event.to_bytes()) == event
    assert event.to_wire() == {
        "principalKind": "user",
        "principalId": "u1",
        "reason": "user-disabled",
    }
    for bad in ({"principalId": "../x"}, {"principalId": ">"}, {"principalKind": "group"}):
        with pytest.raises(ValidationError):
            CredentialsRevoked.model_validate({**event.to_wire(), **bad})
