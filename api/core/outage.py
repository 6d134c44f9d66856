"""A database outage answered as one: 503 problem+json with ``Retry-After`` on every path, one log line per
change of state, and the client's connection kept.

Database errors surface in two places. Inside the router, the app's exception handlers turn them into the
503 (``api.problems``). Outside it, in the cached answers' fast path (``api.core.fastpath``), which reads the
dataset versions before FastAPI routes anything, they would reach Starlette's last-resort handler: a 500,
a traceback per request, and the server closing the connection because the exception escaped after the
answer had started. ``DatabaseOutageGuard`` sits around the fast path and answers those the same way.

``DatabaseHealth`` is what both report to: the first failure logs a warning (the error's kind and its first
line, never a traceback per request), the first success afterwards (a dataset-version read or a readiness
check that reached the database) logs the recovery with how long it lasted and how many answers were 503.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import TYPE_CHECKING

import psycopg
from sqlalchemy import exc as sa_exc
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from api.core.state import ApiState

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # the pool's: every connection busy, none could be opened
    psycopg.OperationalError,
    psycopg.InterfaceError,
    sqlite3.OperationalError,
    ConnectionError,  # refused or reset below the driver
)


def is_database_error(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(is_database_error(e) for e in exc.exceptions)
    return isinstance(exc, DATABASE_ERRORS)


def _summary(exc: BaseException) -> str:
    """The error's kind and first line: the driver's reason, without the statement or its parameters."""
    cause = getattr(exc, "orig", None) or exc
    first = (str(cause).strip().splitlines() or [""])[0][:200]
    return f"{type(cause).__name__}: {first}" if first else type(cause).__name__


class DatabaseHealth:
    """Up or down, as the last database call found it; logs each change of state once."""

    def __init__(self) -> None:
        self.down_since: float | None = None
        self.unavailable_answers = 0  # 503s since the outage began
        self.outages = 0

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, exc: BaseException) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.outages += 1
            self.unavailable_answers = 0
            log.warning("database unavailable (%s); answering 503 until it answers again", _summary(exc))

    def ok(self) -> None:
        if self.down_since is not None:
            log.warning(
                "database reachable again after %.1f s (%d answer(s) were 503)",
                time.monotonic() - self.down_since,
                self.unavailable_answers,
            )
            self.down_since = None


def unavailable(state: ApiState | None, exc: BaseException, path: str) -> JSONResponse:
    """The 503 answer to a database error, recorded in the app's health."""
    from api.problems import problem

    if state is not None:
        state.db_health.failed(exc)
        state.db_health.unavailable_answers += 1
    response = problem(503, "The database is unavailable; retry shortly.", instance=path)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseOutageGuard:
    """Pure ASGI middleware around the fast path: a database error that reaches it becomes the 503."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if not is_database_error(exc):
                raise
            state: ApiState | None = getattr(scope["app"].state, "api", None)
            if started:  # the answer was already on its way: it cannot become a 503
                if state is not None:
                    state.db_health.failed(exc)
                return
            await unavailable(state, exc, scope["path"])(scope, receive, send)
