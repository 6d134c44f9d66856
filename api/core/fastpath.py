"""The cached answers' fast path: a repeated request served before FastAPI routes it.

A cacheable answer is a function of its route, its resolved parameters and the versions of the
datasets it read (``api.core.cache``). Once a request has been answered the normal way, its exact
request line (path and raw query string) and bearer token are recorded here together with the cache
key it resolved to, the dataset versions it read and the day (parameters may default to today).
When the same token asks for the same URL again, this middleware:

1. verifies the token again (signature cache and expiry, as the normal path does; the entry was made
   for this very token, so its role passed the route's check),
2. reads the dataset versions (as every request does: nothing is served that a bump has replaced) and
   checks the token's generation against them (a revoked token is not served: ``api/core/revocation``),
3. serves the memory tier's entry under the recorded key with the same headers (ETag, 304 on
   ``If-None-Match``, Cache-Control, Vary) as the normal path.

If any step does not match (new versions, another day, an expired token, an evicted entry) the
request goes the normal way, which records it again. What it skips is what costs most in a cached
answer: routing, validation of path and query parameters, dependency resolution.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from api.core.cache import answer_response
from api.core.security import TokenError
from stock_insights import clock

if TYPE_CHECKING:
    from api.core.state import ApiState

RequestKey = tuple[str, bytes, bytes]  # path, raw query string, Authorization header


@dataclass(frozen=True, slots=True)
class Route:
    day: date
    versions: tuple[tuple[str, int], ...]
    cache_key: str


class FastPathIndex:
    """Request line and token -> the cache key it resolved to; an LRU of bounded size."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self.max_entries = max_entries
        self._routes: OrderedDict[RequestKey, Route] = OrderedDict()
        self.hits = 0

    def remember(self, scope: Scope, day: date, versions: Mapping[str, int], cache_key: str) -> None:
        authorization = header(scope, b"authorization")
        if scope.get("method") != "GET" or authorization is None:
            return
        key = (scope["path"], scope.get("query_string", b""), authorization)
        self._routes[key] = Route(day, tuple(sorted(versions.items())), cache_key)
        self._routes.move_to_end(key)
        if len(self._routes) > self.max_entries:
            self._routes.popitem(last=False)

    def lookup(self, key: RequestKey) -> Route | None:
        return self._routes.get(key)

    def __len__(self) -> int:
        return len(self._routes)

    def clear(self) -> None:
        self._routes.clear()


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:  # ASGI servers lower-case header names
            return value
    return None


class CachedAnswerFastPath:
    """Pure ASGI middleware in front of the router (inside CORS and the default Cache-Control)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            state: ApiState | None = getattr(scope["app"].state, "api", None)
            if state is not None and await self._serve(state, scope, receive, send):
                return
        await self.app(scope, receive, send)

    async def _serve(self, state: ApiState, scope: Scope, receive: Receive, send: Send) -> bool:
        authorization = header(scope, b"authorization")
        if authorization is None:
            return False
        route = state.fastpath.lookup((scope["path"], scope.get("query_string", b""), authorization))
        if route is None or route.day != clock.today_kst():
            return False
        _, _, token = authorization.decode("latin-1").partition(" ")
        try:
            principal = state.tokens.principal(token.strip())
        except TokenError:
            return False
        current = await state.versions.read()
        if any(current.get(dataset, 0) != version for dataset, version in route.versions):
            return False
        if not await state.generations.is_current(principal, current):
            return False  # revoked: the normal path answers the 401
        answer = state.cache.memory.get(route.cache_key)
        if answer is None:
            return False
        state.fastpath.hits += 1
        if_none_match = header(scope, b"if-none-match")
        response = answer_response(answer, None if if_none_match is None else if_none_match.decode("latin-1"))
        await response(scope, receive, send)
        return True
