"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) served entirely by this API: no CDN, no web font.

FastAPI's own pages load Swagger UI and ReDoc from jsDelivr and ReDoc's fonts from Google Fonts, so
they are blank on a machine without internet. The JavaScript, CSS and favicon come from the
``fastapi-offline`` package (MIT; it ships the files of swagger-ui-dist and redoc with their licence
headers), pinned in ``pyproject.toml`` and ``requirements.lock``; nothing is fetched at run time.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
# The package version is in the URL: a browser may keep the files as long as it likes.
ASSETS_URL = f"/docs-assets/{version('fastapi-offline')}"
FAVICON = ASSETS_DIR / "favicon.png"
# Swagger UI's defaults, minus anything that would call out: no online validator badge.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
# The pages may load and call nothing but this API. ReDoc's sidebar always shows an <img> from cdn.redoc.ly
# ("API docs by Redocly"), which the browser then never requests (the image hides itself when it fails); the
# pages' own initialisation is an inline script, their styles partly inline, ReDoc's search a blob: worker.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'self'; base-uri 'self'; form-action 'self'"
)


class ImmutableStaticFiles(StaticFiles):
    """Static files with a long-lived ``Cache-Control`` (the mount path carries the version)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_cached(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 200:
                message.setdefault("headers", []).append((b"cache-control", b"public, max-age=31536000, immutable"))
            await send(message)

        await super().__call__(scope, receive, send_cached)


def install(app: FastAPI) -> None:
    """Serve the documentation pages and their assets (call on an app made with docs_url=redoc_url=None)."""
    assert app.openapi_url is not None
    openapi_url = app.openapi_url
    redirect_url = "/docs/oauth2-redirect"
    app.swagger_ui_oauth2_redirect_url = redirect_url
    app.mount(ASSETS_URL, ImmutableStaticFiles(directory=ASSETS_DIR), name="docs-assets")

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    def local_only(page: HTMLResponse) -> HTMLResponse:
        page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return page

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        base = root(request)
        page = get_swagger_ui_html(
            openapi_url=base + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{base}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{base}{ASSETS_URL}/favicon.png",
            oauth2_redirect_url=base + redirect_url,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )
        return local_only(page)

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return local_only(get_swagger_ui_oauth2_redirect_html())

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        base = root(request)
        page = get_redoc_html(
            openapi_url=base + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{base}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{base}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
        return local_only(page)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        # Browsers ask for it on their own, whatever the page links to.
        return FileResponse(FAVICON, media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})
