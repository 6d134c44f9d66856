"""The sandbox app factory: one FastAPI app, one router per simulated upstream.

Besides the upstream routers it serves the sandbox's own control endpoints under ``/_sandbox``:

* ``GET /_sandbox/health`` -> ``{"status": "ok", "data_mode": "simulated"}``
* ``POST /_sandbox/faults`` ``{"path_contains", "kind", "count", "seconds", "skip"}`` queues a fault for
  the next ``count`` requests whose path contains ``path_contains``; ``GET`` lists the queue,
  ``DELETE`` clears it. Kinds: ``kis.KIS_FAULT_KINDS`` (more as routers are added).
* ``GET /_sandbox/stats`` -> ``{"kis": {...}}`` request/answer counters per upstream.
* ``POST /_sandbox/expire_tokens`` (KIS router) expires every issued KIS token.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from stock_insights.sandbox.dart import DartSandbox, build_dart_router
from stock_insights.sandbox.kis import FaultQueue, FaultRequest, KisConfig, KisSandbox, build_kis_router
from stock_insights.sandbox.market import SimulatedMarket
from stock_insights.sandbox.master import MasterSandbox, build_master_router
from stock_insights.sandbox.naver import NaverSandbox, build_naver_router
from stock_insights.sandbox.newsroom import Newsroom
from stock_insights.sandbox.openai_api import build_openai_router
from stock_insights.sandbox.reddit import RedditSandbox, build_reddit_router
from stock_insights.sandbox.rss import RssSandbox, build_rss_router

logger = logging.getLogger(__name__)

_SLASHES = re.compile(r"/{2,}")


class CollapseSlashesMiddleware:
    """Some KIS clients (mojito) build ``…:9443//uapi/...``; the real gateway accepts it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "//" in scope.get("path", ""):
            path = _SLASHES.sub("/", scope["path"])
            scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.app(scope, receive, send)


@dataclass
class SandboxState:
    """Everything mutable of one sandbox app (``app.state.sandbox``)."""

    market: SimulatedMarket
    faults: FaultQueue
    kis: KisSandbox


def create_app(
    market: SimulatedMarket | None = None,
    *,
    now: Callable[[], datetime] | None = None,
    kis_config: KisConfig | None = None,
    monotonic: Callable[[], float] | None = None,
) -> FastAPI:
    """Build a fresh sandbox app.

    ``now`` is the wall clock used for token lifetimes and for which bars have closed (default: the
    real clock, KST); ``monotonic`` drives the rate-limit windows (default ``time.monotonic``), so
    a frozen ``now`` does not freeze the rate limiter. ``kis_config`` defaults to the environment
    (``SANDBOX_KIS_RATE_LIMIT_PER_SEC``).
    """
    market = market or SimulatedMarket()
    faults = FaultQueue()
    kis_kwargs: dict[str, Any] = {"now": now, "config": kis_config, "faults": faults}
    if monotonic is not None:
        kis_kwargs["monotonic"] = monotonic
    kis = KisSandbox(market, **kis_kwargs)
    state = SandboxState(market=market, faults=faults, kis=kis)

    app = FastAPI(title="stock_insights sandbox", description="Simulated upstream services", version="0.1.0")
    app.state.sandbox = state
    app.add_middleware(CollapseSlashesMiddleware)
    app.include_router(build_kis_router(kis), tags=["kis"])
    # The KIS stock master downloads (kospi_code.mst.zip, kosdaq_code.mst.zip) of the simulated listings.
    app.state.master = MasterSandbox(seed=market.seed, now=now)
    app.include_router(build_master_router(app.state.master), tags=["kis-master"])
    # News and disclosures (issue 4): one newsroom feeds Naver, both papers' RSS and Reddit.
    newsroom = Newsroom(market)
    news_clock: dict[str, Any] = {"now": now, "faults": faults}
    app.state.news = {
        "naver": NaverSandbox(newsroom, **news_clock),
        "rss": RssSandbox(newsroom, **news_clock),
        "reddit": RedditSandbox(newsroom, **news_clock),
        "dart": DartSandbox(market, **news_clock),
    }
    app.include_router(build_naver_router(app.state.news["naver"]), tags=["naver"])
    app.include_router(build_rss_router(app.state.news["rss"]), tags=["rss"])
    app.include_router(build_reddit_router(app.state.news["reddit"]), tags=["reddit"])
    app.include_router(build_dart_router(app.state.news["dart"]), tags=["dart"])
    openai_router = build_openai_router(faults)
    app.include_router(openai_router, tags=["openai"])
    # The same OpenAI-compatible API under an OpenRouter-style prefix (OPENROUTER_BASE_URL=<sandbox>/openrouter/v1).
    app.include_router(openai_router, prefix="/openrouter", tags=["openrouter"])

    @app.get("/_sandbox/health", tags=["sandbox"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "data_mode": "simulated"}

    @app.post("/_sandbox/faults", tags=["sandbox"])
    async def add_fault(body: FaultRequest) -> JSONResponse:
        try:
            fault = faults.add(body.path_contains, body.kind, body.count, body.seconds, body.skip)
        except ValueError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        logger.info("sandbox fault queued: %s x%d on paths containing %r", fault.kind, fault.remaining,
                    fault.path_contains)
        return JSONResponse({"queued": fault.as_dict(), "pending": faults.pending()})

    @app.get("/_sandbox/faults", tags=["sandbox"])
    async def list_faults() -> dict[str, Any]:
        return {"pending": faults.pending(), "kinds": sorted(faults.kinds)}

    @app.delete("/_sandbox/faults", tags=["sandbox"])
    async def clear_faults() -> dict[str, int]:
        return {"cleared": faults.clear()}

    @app.get("/_sandbox/stats", tags=["sandbox"])
    async def stats() -> dict[str, Any]:
        return {"kis": kis.stats(), "openai": dict(openai_router.stats)}

    return app
