"""BEHOLDER_CAMERA_NETWORKS: what the default refuses and allows, explicit CIDRs, the URL the
worker connects to (the checked IP, credentials and path kept), and the setting's parsing."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from beholder.camera_networks import (
    AddressRefused,
    NetworkPolicy,
    pin_url,
    resolve_camera,
)
from beholder.config import CameraSettings, SettingsError, load_settings

DEFAULT = CameraSettings(networks="private,public").policy


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "0.0.0.0",
        "::",
        "169.254.169.254",
        "fe80::1",
        "224.0.0.251",
        "ff02::1",
        "255.255.255.255",
        "0.1.2.3",
        "100.64.0.1",  # carrier-grade NAT
        "192.0.2.10",  # documentation
        "198.18.0.1",  # benchmarking
        "240.0.0.1",  # reserved
        "fec0::1",  # deprecated site-local
        "::ffff:127.0.0.1",  # loopback in an IPv4-mapped IPv6 address
        "::ffff:169.254.169.254",
    ],
)
def test_the_default_refuses_local_and_special_addresses(address: str) -> None:
    assert not DEFAULT.allows(address)


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.5",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.1.20",
        "fd12:3456::1",
        "8.8.8.8",
        "2001:4860:4860::8888",
        "::ffff:192.168.1.20",
    ],
)
def test_the_default_allows_private_and_public_addresses(address: str) -> None:
    assert DEFAULT.allows(address)


def test_explicit_networks_only() -> None:
    policy = NetworkPolicy.from_entries(["10.1.0.0/16", "127.0.0.0/8"])
    assert policy.allows("10.1.2.3") and policy.allows("127.0.0.1")
    assert not policy.allows("10.2.0.1") and not policy.allows("8.8.8.8")
    assert not policy.allows("::1")


def test_unspecified_and_multicast_are_refused_even_when_listed() -> None:
    policy = NetworkPolicy.from_entries(["0.0.0.0/0", "::/0"])
    assert policy.allows("127.0.0.1") and policy.allows("::1")  # the operator's choice
    for address in ("0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255"):
        assert not policy.allows(address), address


def test_literal_check_passes_host_names() -> None:
    DEFAULT.check_literal("rtsp://camera.local/stream")  # resolved at connect time
    with pytest.raises(AddressRefused) as err:
        DEFAULT.check_literal("rtsp://admin:pw@[::1]:8554/x")
    assert (
        err.value.address == "::1" and "pw" not in str(err.value) and "8554" not in str(err.value)
    )


def test_pinned_url_keeps_credentials_port_path_and_query() -> None:
    url = "rtsp://admin:p%40ss@cam.local:8554/Streaming/101?user=admin&password=x"
    assert pin_url(url, "10.0.0.5") == (
        "rtsp://admin:p%40ss@10.0.0.5:8554/Streaming/101?user=admin&password=x"
    )
    assert pin_url("rtsps://cam.local/s", "fd00::7") == "rtsps://[fd00::7]/s"


def _resolver(*addresses: str) -> Any:
    def getaddrinfo(host: str, port: int, **_: Any) -> list[Any]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    return getaddrinfo


def test_a_name_is_pinned_to_its_checked_address() -> None:
    target = resolve_camera(
        "rtsp://u:p@cam.local/s", DEFAULT, getaddrinfo=_resolver("192.168.1.20", "192.168.1.21")
    )
    assert target.url == "rtsp://u:p@192.168.1.20/s"
    assert (target.host, target.address, target.port) == ("cam.local", "192.168.1.20", 554)


def test_a_name_with_any_refused_address_is_refused() -> None:
    with pytest.raises(AddressRefused) as err:
        resolve_camera(
            "rtsp://cam.local/s", DEFAULT, getaddrinfo=_resolver("192.168.1.20", "127.0.0.1")
        )
    assert str(err.value) == "cam.local resolves to 127.0.0.1, outside BEHOLDER_CAMERA_NETWORKS"


def test_localhost_is_refused_by_the_default() -> None:
    with pytest.raises(AddressRefused):
        resolve_camera("rtsp://localhost:8554/x", DEFAULT)


def test_a_bad_entry_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEHOLDER_CAMERA_NETWORKS", "private,10.0.0.0/33")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value).startswith("invalid setting BEHOLDER_CAMERA_NETWORKS=private,10.0.0.0/33")


def test_the_setting_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEHOLDER_CAMERA_NETWORKS", "PRIVATE, 127.0.0.1/8")
    camera = load_settings().camera
    assert camera.networks == ("private", "127.0.0.0/8")
    assert camera.policy.allows("127.0.0.1") and not camera.policy.allows("8.8.8.8")
