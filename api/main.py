"""The app factory: settings, lifespan resources, middleware and routers, nothing else."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from api import docs, problems
from api.core.fastpath import CachedAnswerFastPath
from api.core.middleware import BodyLimit, DefaultCacheControl
from api.core.outage import DatabaseOutageGuard
from api.core.state import build_state
from api.mcp.server import McpEndpoint, McpService
from api.routes import (
    api_keys,
    auth,
    dashboard,
    disclosures,
    evaluations,
    experiments,
    health,
    ledger,
    market,
    news,
    notifications,
    predictions,
    reports,
    search,
    stocks,
    users,
)
from stock_insights.settings import get_settings
from stock_insights.storage.migrate import upgrade

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"  # the one place the version is written: every feature router is mounted under it

# Feature routers, each with its own path (``/stocks``, ``/news``, ...); health stays at the root.
V1_ROUTERS = (
    auth.router,
    users.router,
    api_keys.router,
    stocks.router,
    market.router,
    news.router,
    disclosures.router,
    search.router,
    predictions.router,
    experiments.router,
    evaluations.router,
    dashboard.router,
    reports.router,
    ledger.router,
    notifications.router,
)


def create_app(*, migrate: bool = True) -> FastAPI:
    settings = get_settings()
    mcp = McpService()  # the MCP server at /mcp (api/mcp/server.py): the same read functions and accounts

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await run_in_threadpool(upgrade, settings.DATABASE_URL)
        state = build_state(settings, health.VERSION)
        app.state.api = state
        app.state.engine = state.engine
        app.state.sessions = state.sessions
        try:
            async with mcp.serve_http(state):  # the SDK's session manager runs inside the app's lifespan
                yield
        finally:
            await state.aclose()

    app = FastAPI(
        title="stock_insights API",
        version=health.VERSION,
        description="Korean market data, news, AI predictions and their evaluations. Every answer says whether "
        "its data is live or simulated (`data_mode`). Every `/api/v1` route except `auth` needs a bearer token "
        "(`POST /api/v1/auth/token`); errors are RFC 9457 `application/problem+json`. Read answers carry an "
        "`ETag`: send it back in `If-None-Match` for a `304`.",
        lifespan=lifespan,
        # Served by api.docs from the installed package's files, not from a CDN (blank pages offline).
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(CachedAnswerFastPath)  # innermost: CORS and the default Cache-Control still apply
    app.add_middleware(DatabaseOutageGuard)  # the fast path's database errors: 503, not a 500 and a dropped connection
    app.add_middleware(BodyLimit, max_bytes=settings.API_MAX_BODY_BYTES)
    app.add_middleware(DefaultCacheControl)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.API_CORS_ORIGINS,
        allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "If-None-Match"],
        expose_headers=["ETag", "Retry-After"],
    )
    problems.install(app)
    docs.install(app)
    app.include_router(health.router)
    for router in V1_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    app.router.routes.append(Route("/mcp", McpEndpoint(mcp), name="mcp"))  # Streamable HTTP, every method
    return app


app = create_app()
