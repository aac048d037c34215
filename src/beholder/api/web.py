"""Serving the built web app (``src/beholder/web``, built from ``frontend/``) at ``/``.

``/assets/*`` are static files; any other ``GET`` that is not an api, hub or metrics path
gets the file of that name under the web dir if there is one, else ``index.html`` (the
app routes on the client). Without a build, a short page says how to build it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from beholder.errors import NotFound

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

_NOT_BUILT = (
    "<!doctype html><title>Beholder</title><h1>Beholder</h1>"
    "<p>The web app is not built. Run <code>make run</code> (it builds "
    "<code>frontend/</code>), or use the API at <a href='/api/docs'>/api/docs</a>.</p>"
)


def mount_web(app: FastAPI, web_dir: Path = WEB_DIR) -> None:
    """Serve the built web app at ``/`` with client-side routing fallback.

    Mount last: the catch-all route answers every ``GET`` no earlier route took
    (``api/``, ``ws`` and ``metrics`` paths get the ``NOT_FOUND`` error shape)."""
    index = web_dir / "index.html"
    assets = web_dir / "assets"
    root = web_dir.resolve()
    if assets.is_dir():
        app.mount("/assets", StaticFiles(directory=assets), name="assets")

    async def spa(full_path: str) -> Response:
        if full_path.startswith(("api/", "ws", "metrics")):
            raise NotFound()
        candidate = (web_dir / full_path).resolve()
        if full_path and candidate.is_file() and root in candidate.parents:
            return FileResponse(candidate)
        if index.is_file():
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(_NOT_BUILT, status_code=200)

    app.add_api_route("/{full_path:path}", spa, methods=["GET"], include_in_schema=False)
