import pytest

from beholder.errors import InvalidInput
from beholder.rtsp_url import mask_rtsp_url, validate_rtsp_url


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://192.168.1.20:554/stream1",
        "rtsps://cam.example.com/live",
        "rtsp://admin:p%40ss@10.0.0.5/Streaming/Channels/101",
        "rtsp://[::1]:8554/cam",
        "  rtsp://host/x  ",
    ],
)
def test_valid_urls_are_accepted(url: str) -> None:
    assert validate_rtsp_url(url) == url.strip()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("", "RTSP address"),
        ("http://host/stream", "rtsp://"),
        ("rtsp:///nohost", "no host"),
        ("rtsp://host:99999/x", "port"),
        ("rtsp://bad host/x", "spaces"),
        ("rtsp://exa_mple..com/x", "host"),
        ("rtsp://" + "a" * 2100, "too long"),
    ],
)
def test_invalid_urls_get_a_human_message(url: str, words: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        validate_rtsp_url(url)
    assert words in exc.value.message


def test_mask_hides_only_the_password() -> None:
    assert (
        mask_rtsp_url("rtsp://admin:secret@10.0.0.5:554/s1?x=1")
        == "rtsp://admin:***@10.0.0.5:554/s1?x=1"
    )
    assert mask_rtsp_url("rtsp://10.0.0.5/s1") == "rtsp://10.0.0.5/s1"
    assert "secret" not in mask_rtsp_url("rtsp://admin:secret@[::1]:8554/cam")


def test_mask_of_unparsable_url_leaks_nothing() -> None:
    masked = mask_rtsp_url("rtsp://admin:secret@host:notaport/x")
    assert "secret" not in masked and "admin" not in masked
