"""Liveness (``/health``) and readiness (``/health/ready``: database, Redis, Milvus). Both are public.

Milvus is ready when semantic search can answer: the server answers *and* the collection search reads
exists and is loaded (a restarted server brings it back unloaded, and search falls back to lexical until
it is loaded again); an open port alone is not readiness."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Request, Response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from api.deps import SettingsDep
from api.schemas import DependencyStatus, Health, Readiness
from stock_insights.settings import Settings

router = APIRouter(tags=["health"])
VERSION = "0.1.0"
MILVUS_TIMEOUT_SECONDS = 2.0


@router.get("/health", response_model=Health, summary="Liveness")
async def health(settings: SettingsDep) -> Health:
    return Health(status="ok", data_mode=settings.DATA_MODE, version=VERSION)


async def _database(request: Request) -> DependencyStatus:
    health = request.app.state.api.db_health
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # readiness reports, it does not raise
        health.failed(exc)
        return DependencyStatus(ok=False, detail=f"unreachable ({type(exc).__name__})")
    health.ok()
    return DependencyStatus(ok=True, detail="reachable")


async def _redis(request: Request) -> DependencyStatus:
    ok, detail = await request.app.state.api.redis.ping()
    return DependencyStatus(ok=ok, detail=detail)


def _milvus_state(settings: Settings) -> DependencyStatus:
    """Whether semantic search can answer: the server, and the collection search reads, loaded. Blocking."""
    from stock_insights.embeddings.embedders import collection_name
    from stock_insights.embeddings.factory import build_embedder
    from stock_insights.embeddings.store import VectorStore

    embedder = build_embedder(settings)
    name = collection_name(embedder.model, embedder.dimension)
    try:
        store = VectorStore(settings.MILVUS_URI, name, embedder.dimension, timeout=MILVUS_TIMEOUT_SECONDS)
    except Exception as exc:
        return DependencyStatus(ok=False, detail=f"unreachable ({type(exc).__name__}); search is lexical")
    try:
        state = store.load_state()
    except Exception as exc:
        return DependencyStatus(ok=False, detail=f"reachable, but {type(exc).__name__}; search is lexical")
    finally:
        store.close()
    if state == "Loaded":
        return DependencyStatus(ok=True, detail=f"reachable; collection {name} loaded")
    if state == "NotExist":
        return DependencyStatus(ok=False, detail=f"reachable; no collection {name} yet: search is lexical")
    # After a server restart: loaded again on the next search (or by the server itself when it recovers).
    return DependencyStatus(ok=False, detail=f"reachable; collection {name} {state}: search is lexical until loaded")


async def _milvus(settings: Settings) -> DependencyStatus:
    try:
        return await asyncio.wait_for(run_in_threadpool(_milvus_state, settings), timeout=MILVUS_TIMEOUT_SECONDS + 1)
    except TimeoutError:
        return DependencyStatus(ok=False, detail="no answer in time; search is lexical")


@router.get(
    "/health/ready",
    response_model=Readiness,
    summary="Readiness of the database, Redis and Milvus",
    responses={503: {"model": Readiness}},
)
async def ready(request: Request, response: Response, settings: SettingsDep) -> Readiness:
    database, redis, milvus = await asyncio.gather(_database(request), _redis(request), _milvus(settings))
    checks = {"database": database, "redis": redis, "milvus": milvus}
    status: Literal["ready", "degraded", "unavailable"]
    if not database.ok:
        status = "unavailable"
        response.status_code = 503
    else:
        status = "ready" if all(c.ok for c in checks.values()) else "degraded"
    return Readiness(status=status, data_mode=settings.DATA_MODE, checks=checks)
