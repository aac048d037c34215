"""The hub's admission bookkeeping and its settings (no sockets: see
tests/integration/test_hub_bounds.py for the attacks against a running app)."""

from __future__ import annotations

import pytest

from beholder.config import HubSettings, SettingsError, load_settings
from beholder.realtime.admission import Admission


def test_admission_counts_per_address_and_frees_on_leave() -> None:
    adm = Admission(2)
    assert adm.enter("10.0.0.1") and adm.enter("10.0.0.1")
    assert not adm.enter("10.0.0.1")  # at the cap: refused, not counted
    assert adm.enter("10.0.0.2")  # another address has its own budget
    assert adm.total == 3
    adm.leave("10.0.0.1")
    assert adm.enter("10.0.0.1")
    for _ in range(2):
        adm.leave("10.0.0.1")
    adm.leave("10.0.0.2")
    assert adm.total == 0
    adm.leave("10.0.0.9")  # never below zero, nothing kept for unknown addresses
    assert adm.total == 0


@pytest.mark.parametrize("rate", ["0/minute", "often", "-3/second", ""])
def test_a_bad_replay_rate_fails_at_start_up(rate: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEHOLDER_WS_REPLAY_RATE", rate)
    with pytest.raises(SettingsError, match=r"invalid setting BEHOLDER_WS_REPLAY_RATE="):
        load_settings()


def test_default_backlog_holds_a_full_replay_of_typical_alerts() -> None:
    hub = HubSettings()
    # An alert message is ~1 KB of fields plus a base64 thumbnail of a few KB (160 px JPEG):
    # a full replay of 500 at ~8 KB must fit, so an honest client that reconnects after a
    # long absence is never closed for the replay it asked for.
    assert hub.ws_backlog_bytes >= hub.alert_replay_limit * 8 * 1024
