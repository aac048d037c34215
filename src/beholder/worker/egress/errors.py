"""The refusal of a live-view request by the worker (an :class:`~beholder.errors.AppError`)."""

from __future__ import annotations

from beholder.errors import AppError, ErrorCode


class EgressRefused(AppError):
    """A request the worker answers with an error: ``code`` and the user-safe ``message`` go
    back to the api in the reply (``EgressReply.errorCode``/``message``), which raises them
    again as an :class:`AppError`; ``detail`` is logged only."""

    def __init__(self, code: ErrorCode, message: str, detail: str | None = None) -> None:
        super().__init__(message, code=code, detail=detail)
