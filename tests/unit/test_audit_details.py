"""``safe_details``: what an audit row may say about an action (issue 14 item 7)."""

from __future__ import annotations

import json

from beholder.auth.audit import MAX_DETAILS_BYTES, Actor, safe_details
from beholder.auth.roles import Principal, Role
from beholder.contracts.audit import PrincipalType


def test_keys_that_name_a_secret_are_dropped() -> None:
    details = {
        "password": "hunter2-hunter2",
        "newPassword": "x",
        "refresh_token": "t",
        "key": "bhk_abc_def",
        "apiKey": "bhk_abc_def",
        "secret_key": "s",
        "rtspUrl": "rtsp://u:p@h/x",
        "url": "http://h",
        "sig": "abc",
        "Authorization": "Bearer x",
        "changed": ["rtsp_url", "password"],
        "role": "admin",
    }
    assert safe_details(details) == {"changed": ["rtsp_url", "password"], "role": "admin"}


def test_values_with_credentials_in_a_url_are_dropped_wherever_they_are() -> None:
    out = safe_details({"note": "rtsp://cam:pa55@10.0.0.9/live", "names": ["a", "s://u:p@h"]})
    assert out == {"note": None, "names": ["a", None]}


def test_values_are_small_scalars_and_the_whole_is_bounded() -> None:
    out = safe_details({"name": "n" * 1000, "nested": {"a": 1}, "n": 3, "ok": True})
    assert out == {"name": "n" * 128, "nested": None, "n": 3, "ok": True}
    many = {f"field{i}": "v" * 100 for i in range(100)}
    assert safe_details(many) == {"truncated": True}
    assert len(json.dumps(safe_details({"changed": ["x" * 100] * 1000}))) <= MAX_DETAILS_BYTES
    assert safe_details(None) is None and safe_details({}) is None


def test_actors() -> None:
    key = Principal(kind="api_key", id="k1", name="ml-box", role=Role.VIEWER)
    assert Actor.of(key) == Actor(PrincipalType.API_KEY, "k1", "ml-box")
    assert Actor.anonymous("m" * 100) == Actor(PrincipalType.ANONYMOUS, None, "m" * 64)
