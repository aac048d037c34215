from beholder.errors import (
    DatabaseError,
    ErrorCode,
    RateLimitExceeded,
    default_message,
    error_body,
    http_status,
)


def test_every_code_has_a_status_and_safe_message() -> None:
    for code in ErrorCode:
        assert 400 <= http_status(code) < 600
        assert default_message(code)


def test_internal_codes_never_reach_the_wire() -> None:
    body = error_body(ErrorCode.DATABASE_ERROR, "psycopg: SELECT * FROM users failed", "cid-1")
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert "SELECT" not in body["error"]["message"]
    assert body["error"]["correlationId"] == "cid-1"
    assert error_body(ErrorCode.DECODER_CRASH, "x", "c")["error"]["code"] == "STREAM_UNAVAILABLE"
    assert error_body(ErrorCode.BUS_ERROR, "x", "c")["error"]["code"] == "SERVICE_UNAVAILABLE"


def test_app_errors_keep_detail_out_of_message() -> None:
    exc = DatabaseError(detail="connection refused to 10.0.0.1:5432")
    assert "10.0.0.1" not in exc.message
    assert exc.status_code == 503


def test_rate_limit_sets_retry_after() -> None:
    assert RateLimitExceeded(7).headers["Retry-After"] == "7"
