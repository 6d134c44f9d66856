"""Pure ASGI middleware (no BaseHTTPMiddleware: it would add a task and a copy per request)."""

from __future__ import annotations

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
