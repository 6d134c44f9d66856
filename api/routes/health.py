"""Liveness (``/health``) and readiness (``/health/ready``: database, Redis, Milvus). Both are public."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from sqlalchemy import text

from api.deps import SettingsDep
from api.schemas import DependencyStatus, Health, Readiness

router = APIRouter(tags=["health"])
VERSION = "0.1.0"


@router.get("/health", response_model=Health, summary="Liveness")
async def health(settings: SettingsDep) -> Health:
    return Health(status="ok", data_mode=settings.DATA_MODE, version=VERSION)


async def _database(request: Request) -> DependencyStatus:
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return DependencyStatus(ok=True, detail="reachable")
    except Exception as exc:  # readiness reports, it does not raise
        return DependencyStatus(ok=False, detail=f"unreachable ({type(exc).__name__})")


async def _redis(request: Request) -> DependencyStatus:
    ok, detail = await request.app.state.api.redis.ping()
    return DependencyStatus(ok=ok, detail=detail)


async def _milvus(uri: str) -> DependencyStatus:
    from urllib.parse import urlparse

    parsed = urlparse(uri)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 19530
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=1.0)
        writer.close()
        await writer.wait_closed()
        return DependencyStatus(ok=True, detail="reachable")
    except Exception as exc:
        return DependencyStatus(ok=False, detail=f"unreachable ({type(exc).__name__})")


@router.get(
    "/health/ready",
    response_model=Readiness,
    summary="Readiness of the database, Redis and Milvus",
    responses={503: {"model": Readiness}},
)
async def ready(request: Request, response: Response, settings: SettingsDep) -> Readiness:
    database, redis, milvus = await asyncio.gather(_database(request), _redis(request), _milvus(settings.MILVUS_URI))
    checks = {"database": database, "redis": redis, "milvus": milvus}
    if not database.ok:
        status = "unavailable"
        response.status_code = 503
    else:
        status = "ready" if all(c.ok for c in checks.values()) else "degraded"
    return Readiness(status=status, data_mode=settings.DATA_MODE, checks=checks)
