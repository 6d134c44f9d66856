"""The app factory: settings, database, middleware and routers, nothing else."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.concurrency import run_in_threadpool

from api import problems
from api.routes import health, predictions, stocks
from stock_insights.settings import get_settings
from stock_insights.storage.db import make_async_engine
from stock_insights.storage.migrate import upgrade

log = logging.getLogger(__name__)


def create_app(*, migrate: bool = True) -> FastAPI:
    settings = get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await run_in_threadpool(upgrade, settings.DATABASE_URL)
        engine = make_async_engine(settings.DATABASE_URL)
        app.state.engine = engine
        app.state.sessions = async_sessionmaker(engine, expire_on_commit=False)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="stock_insights API",
        version=health.VERSION,
        description="Korean market data, news, AI predictions and their evaluations. Every answer says whether "
        "its data is live or simulated (`data_mode`).",
        lifespan=lifespan,
    )
    app.add_middleware(
        CORSMiddleware, allow_origins=settings.API_CORS_ORIGINS, allow_methods=["*"], allow_headers=["*"]
    )
    problems.install(app)
    for router in (health.router, stocks.router, predictions.router):
        app.include_router(router)
    return app


app = create_app()
