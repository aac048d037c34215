import pytest

from beholder.errors import InvalidInput
from beholder.rtsp_url import mask_rtsp_url, mask_text, validate_rtsp_url


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


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "rtsp://cam/stream?user=admin&password=hunter2",
            "rtsp://cam/stream?user=admin&password=***",
        ),
        (
            "rtsp://a:b@cam:554/s?PWD=x&Pass=y&passwd=z&channel=1",
            "rtsp://a:***@cam:554/s?PWD=***&Pass=***&passwd=***&channel=1",
        ),
        (
            "rtsp://cam/s?token=t&KEY=k&auth=a&api_key=q",
            "rtsp://cam/s?token=***&KEY=***&auth=***&api_key=***",
        ),
        (
            "rtsp://cam/s?user=admin&channel=1&subtype=0",
            "rtsp://cam/s?user=admin&channel=1&subtype=0",
        ),
    ],
)
def test_mask_hides_password_like_query_parameters(url: str, masked: str) -> None:
    assert mask_rtsp_url(url) == masked


def test_mask_text_hides_urls_and_bare_pairs_in_messages() -> None:
    text = (
        "[Errno 111] Connection refused: 'rtsp://admin:pw1@10.0.0.5:554/s?password=hunter2&ch=1'"
        " (request DESCRIBE /s?user=admin&pwd=hunter3)"
    )
    out = mask_text(text)
    for secret in ("pw1", "hunter2", "hunter3"):
        assert secret not in out
    assert "rtsp://admin:***@10.0.0.5:554/s?password=***&ch=1" in out and "user=admin" in out
