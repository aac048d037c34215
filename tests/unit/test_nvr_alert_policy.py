"""Severity of the NVR fleet's system alerts (settings.nvr): by scope for an NVR going
offline, by duration for a return."""

from beholder.config import NvrSettings
from beholder.nvr.alerts import AlertPolicy
from beholder.nvr.cascade import outage_text


def test_offline_severity_by_scope() -> None:
    policy = AlertPolicy(NvrSettings(critical_cameras=16))
    assert policy.nvr_offline(0) == "high"
    assert policy.nvr_offline(15) == "high"
    assert policy.nvr_offline(16) == "critical"


def test_return_severity_by_duration() -> None:
    policy = AlertPolicy(NvrSettings(medium_after=60, high_after=900))
    assert policy.returned(None) == "low"
    assert policy.returned(59.9) == "low"
    assert policy.returned(60) == "medium"
    assert policy.returned(899) == "medium"
    assert policy.returned(900) == "high"


def test_thresholds_must_be_ordered() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="HIGH_AFTER"):
        NvrSettings(medium_after=600, high_after=60)


def test_outage_text() -> None:
    assert [outage_text(s) for s in (42, 720, 12600)] == ["42 s", "12 min", "3.5 h"]
