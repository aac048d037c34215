"""``/api/media``: short-lived signed URLs for the media endpoints (:mod:`beholder.auth.media`).

``<img src>``, ``<video>`` and external players cannot send an ``Authorization`` header;
instead of a bearer token in the query string they get a URL signed for one path, one
principal and at most a minute."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi import APIRouter

from beholder.api.deps import StateDep, ViewerDep
from beholder.api.schemas import MediaSignRequest, SignedMediaOut
from beholder.errors import InvalidInput

router = APIRouter(prefix="/api/media", tags=["media"])

_ID = r"[0-9A-Za-z-]{1,64}"
MEDIA_PATH = re.compile(
    rf"^/api/(?:cameras/{_ID}/(?:snapshot\.jpg|mjpeg)|alerts/{_ID}/snapshot\.jpg)$"
)
"""The paths that take a signed URL (the endpoints using ``MediaViewerDep``)."""


@router.post("/sign", response_model=SignedMediaOut)
async def sign_media(
    body: MediaSignRequest, principal: ViewerDep, state: StateDep
) -> SignedMediaOut:
    """A URL for ``path`` that works without headers for 60 s, for the calling principal
    only (its account is checked again on use). 400 for a path that is not a media path."""
    if not MEDIA_PATH.match(body.path):
        raise InvalidInput("This path cannot be signed.", detail=f"not a media path: {body.path!r}")
    signed = state.media.sign(body.path, principal)
    return SignedMediaOut(url=signed.url, expires_at=datetime.fromtimestamp(signed.expires_at, UTC))
