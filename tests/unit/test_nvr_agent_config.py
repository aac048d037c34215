"""The NVR agent's nvr.yaml: the keys of the issue work as written, ${ENV} and passwordFile
fill credentials, every error names its key and never shows a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from beholder.nvr.agent.config import (
    ConfigError,
    load_config,
    parse_channel_numbers,
    parse_config,
)

ISSUE_EXAMPLE = """
server: https://beholder.example:8080
nvr: {hostname: site-a-nvr, deviceName: "Site A recorder", region: north}
heartbeatSeconds: 10
probeSeconds: 30
template:
  preset: hikvision
  host: 192.168.1.20
  username: admin
  password: ${NVR_PASSWORD}
  channels: "1-16"
"""


def test_issue_example_with_template_and_env() -> None:
    cfg = parse_config(ISSUE_EXAMPLE, env={"NVR_PASSWORD": "s3cr:et/@"})
    assert cfg.server == "https://beholder.example:8080"
    assert cfg.nvr.hostname == "site-a-nvr"
    assert cfg.nvr.device_name == "Site A recorder"
    assert cfg.nvr.region == "north"
    assert cfg.heartbeat_seconds == 10
    assert cfg.probe_seconds == 30
    assert cfg.is_template
    channels = cfg.all_channels()
    assert [c.number for c in channels] == list(range(1, 17))
    # the password is percent-encoded into the user info
    assert channels[0].url == "rtsp://admin:s3cr%3Aet%2F%40@192.168.1.20:554/Streaming/Channels/101"
    assert channels[15].url.endswith("/Streaming/Channels/1601")
    assert "s3cr" not in repr(channels[0]) and "s3cr" not in str(channels[0])


def test_explicit_channels() -> None:
    cfg = parse_config(
        """
nvr: {hostname: h}
channels:
  - {number: 1, name: "Gate", url: "rtsp://user:pass@192.168.1.20:554/ch1"}
  - {number: 2, url: "rtsp://192.168.1.20/ch2", username: u, password: p}
"""
    )
    assert not cfg.is_template
    one, two = cfg.all_channels()
    assert (one.number, one.name) == (1, "Gate")
    assert two.url == "rtsp://u:p@192.168.1.20/ch2"
    assert cfg.heartbeat_seconds == 10 and cfg.probe_seconds == 30  # defaults


def test_dahua_and_generic_presets() -> None:
    dahua = parse_config(
        "nvr: {hostname: h}\ntemplate: {preset: dahua, host: 10.0.0.5, port: 8554, channels: [3]}"
    )
    assert dahua.all_channels()[0].url == (
        "rtsp://10.0.0.5:8554/cam/realmonitor?channel=3&subtype=0"
    )
    generic = parse_config(
        "nvr: {hostname: h}\ntemplate: {preset: generic, url: 'rtsp://{host}:{port}/live/{n}',"
        " host: cam.local, username: a, password: b, channels: '1-2,5'}"
    )
    assert [c.url for c in generic.all_channels()] == [
        "rtsp://a:b@cam.local:554/live/1",
        "rtsp://a:b@cam.local:554/live/2",
        "rtsp://a:b@cam.local:554/live/5",
    ]


def test_password_file(tmp_path: Path) -> None:
    pw = tmp_path / "nvr.pass"
    pw.write_text("from-file\n")
    cfg = parse_config(
        f"nvr: {{hostname: h}}\ntemplate: {{preset: hikvision, host: 10.0.0.1, username: admin,"
        f" passwordFile: {pw}, channels: 1}}"
    )
    assert cfg.all_channels()[0].url.startswith("rtsp://admin:from-file@10.0.0.1")


def test_env_default_and_file_load(tmp_path: Path) -> None:
    path = tmp_path / "nvr.yaml"
    path.write_text(
        "nvr: {hostname: '${HOST:-fallback}'}\nchannels: [{number: 1, url: rtsp://x/1}]"
    )
    assert load_config(path, env={}).nvr.hostname == "fallback"
    assert load_config(path, env={"HOST": "h2"}).nvr.hostname == "h2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ISSUE_EXAMPLE, "template.password: environment variable NVR_PASSWORD is not set"),
        ("nvr: {hostname: h}", "give either channels"),
        ("nvr: {hostname: h}\nchannels: [{number: 0, url: rtsp://x/}]", "channels.0.number"),
        ("nvr: {hostname: h}\nchannels: [{number: 1, url: http://x/}]", "channels.0.url"),
        (
            "nvr: {hostname: h}\nchannels: [{number: 1, url: rtsp://x/a}, {number: 1, url: rtsp://x/b}]",
            "unique",
        ),
        ("nvr: {hostname: h}\ntemplate: {preset: acme, host: x, channels: 1}", "template.preset"),
        ("nvr: {hostname: h}\ntemplate: {preset: generic, url: rtsp://x/, channels: 1}", "{n}"),
        ("nvr: {hostname: h}\ntemplate: {preset: dahua, channels: 1}", "needs host"),
        ("nvr: {hostname: h}\ntemplate: {preset: dahua, host: x, channels: '5-1'}", "backwards"),
        ("nvr: {}\nchannels: [{number: 1, url: rtsp://x/}]", "nvr.hostname"),
        ("nvr: {hostname: h}\nheartbeatSeconds: 0\nchannels: []", "heartbeatSeconds"),
        ("nvr: {hostname: h}\nbogus: 1\nchannels: []", "bogus"),
        ("nvr: [unclosed", "not valid YAML"),
        ("- a list", "mapping"),
    ],
)
def test_errors_name_the_key(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={})
    assert expected in str(info.value)


def test_errors_never_show_credentials() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(
            "nvr: {hostname: h}\nchannels: [{number: 1, url: 'rtsp://u:topsecret@x:99999/'}]"
        )
    assert "topsecret" not in str(info.value)
    assert "channels.0.url" in str(info.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match=r"password file"):
        parse_config(
            "nvr: {hostname: h}\ntemplate: {preset: dahua, host: x, username: a,"
            f" passwordFile: {tmp_path / 'nope'}, channels: 1}}"
        )


def test_channel_ranges() -> None:
    assert parse_channel_numbers("1-4, 8,10-12") == [1, 2, 3, 4, 8, 10, 11, 12]
    assert parse_channel_numbers([3, 1, 3]) == [1, 3]
    assert parse_channel_numbers(7) == [7]
    for bad in ("", "a", "0-3", "1-99999", [True]):
        with pytest.raises(ValueError):
            parse_channel_numbers(bad)  # type: ignore[arg-type]


def test_the_shipped_example_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "nvr-agent.yaml"
    cfg = load_config(example, env={"NVR_PASSWORD": "pw"})
    assert cfg.nvr.hostname == "site-a-nvr"
    assert len(cfg.all_channels()) == 16
