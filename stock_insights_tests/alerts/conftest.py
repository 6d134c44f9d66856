"""Fixtures of the alerts tests: a webhook receiver over real HTTP (scripted answers, every request kept)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from stock_insights.settings import reset_settings_cache
from stock_insights_tests.conftest import ServerThread


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = "ok"  # Slack answers a plain "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow receiver)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    payload: Any


class Receiver:
    """A webhook endpoint: answers from a script (then ``default``), remembers every request."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: list[Reply] = []
        self.default = Reply()
        self._lock = threading.Lock()
        self.url = ""

    def answer(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    async def handle(self, request: Request) -> PlainTextResponse:
        raw = await request.body()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = raw.decode(errors="replace")
        with self._lock:
            self.requests.append(Received(request.url.path, dict(request.headers), payload))
            reply = self.script.pop(0) if self.script else self.default
        if reply.delay:
            await asyncio.sleep(reply.delay)
        body = reply.body.replace("{path}", request.url.path)
        return PlainTextResponse(body, status_code=reply.status, headers=reply.headers)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=["POST", "GET"])])


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    # The receiver listens on loopback, which the webhook policy refuses unless the operator admits it.
    monkeypatch.setenv("WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")
    reset_settings_cache()
    hook = Receiver()
    with ServerThread(hook.app()) as server:
        hook.url = server.url
        yield hook
