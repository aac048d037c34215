"""The API docs page, ``/api/docs``: Swagger UI served by the api itself.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script, which
needs a CSP that allows both. Here the Swagger UI files come from the ``fastapi-offline``
package (``/api/docs/assets/``) and the start-up script is a file of ours
(``/api/docs/init.js``), so the page works offline and runs under
:data:`~beholder.api.middleware.http.DOCS_CSP` (``'self'`` only, no inline script).
"""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from beholder.api.middleware.http import DOCS_PREFIX

SWAGGER_DIR = Path(str(files("fastapi_offline") / "static"))
"""``swagger-ui-bundle.js``, ``swagger-ui.css`` and ``favicon.png`` (Swagger UI 5)."""

# Reads the spec URL from the page (no inline script); no validator badge (it would call
# an outside host), no persisted authorization (it would keep the token in localStorage).
_INIT_JS = """\
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
});
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{prefix}/init.js"></script>
</body>
</html>
"""


def mount_docs(app: FastAPI) -> None:
    """Serve the docs page at ``/api/docs`` (create the app with ``docs_url=None``)."""
    app.mount(f"{DOCS_PREFIX}/assets", StaticFiles(directory=SWAGGER_DIR), name="swagger-assets")

    async def docs_page(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = _PAGE.format(
            title=html.escape(f"{app.title} - API docs"),
            assets=html.escape(f"{root}{DOCS_PREFIX}/assets"),
            prefix=html.escape(f"{root}{DOCS_PREFIX}"),
            openapi=html.escape(f"{root}{app.openapi_url}"),
        )
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    async def init_js() -> Response:
        return Response(_INIT_JS, media_type="text/javascript")

    app.add_api_route(DOCS_PREFIX, docs_page, methods=["GET"], include_in_schema=False)
    app.add_api_route(f"{DOCS_PREFIX}/init.js", init_js, methods=["GET"], include_in_schema=False)
