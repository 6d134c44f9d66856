"""Pure ASGI middleware (no BaseHTTPMiddleware: it would add a task and a copy per request)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class DefaultCacheControl:
    """Answers that did not choose a caching policy get ``Cache-Control: no-store``.

    Cacheable read answers set their own (private, revalidated by ETag); everything else (errors,
    tokens, per-user data) must not be kept by a browser or a proxy.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_default(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
            await send(message)

        await self.app(scope, receive, send_with_default)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body passes the limit; an HTTPException, so that FastAPI's body
    parsing re-raises it (any other error there becomes a 400) and the problem handler answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


class BodyLimit:
    """Caps request bodies at ``max_bytes``: a larger ``Content-Length`` is refused before anything is read,
    and a body without one (chunked) is counted as it arrives and refused when it passes the cap."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0  # the HTTP server refuses a malformed length itself
                if declared > self.max_bytes:
                    await self._refuse(scope, receive, send)
                    return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        from api.problems import problem

        response = problem(413, f"The request body is larger than {self.max_bytes} bytes.", instance=scope["path"])
        # The unread body is not drained: the server closes the connection rather than read megabytes.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def allowed_methods(app: Starlette, scope: Scope) -> list[str]:
    """Every method some route answers at this path (Starlette's own 405 names only the first route's).

    Asked through ``Route.matches`` with each method, so routers included in routers count too."""
    return [
        method
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        if any(route.matches({**scope, "method": method})[0] == Match.FULL for route in app.router.routes)
    ]
