"""Each forecast stores the SHA-256 of the prompt it sent: the canonical JSON of the messages the LLM server
received (sorted keys, no spaces, UTF-8), recorded on the server side of real HTTP; baselines store null. Stored
and read back on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stock_insights.market.store import upsert_stocks
from stock_insights.predictors.config import ModelEntry
from stock_insights.predictors.daily import prediction_row
from stock_insights.predictors.llm import LLMPredictor
from stock_insights.predictors.momentum import MomentumPredictor
from stock_insights.predictors.store import upsert_predictions
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.migrate import upgrade
from stock_insights.storage.models import Prediction
from stock_insights.universe import KNOWN_LISTINGS
from stock_insights_tests.conftest import ServerThread
from stock_insights_tests.predictions.conftest import AS_OF, TARGET, entry, make_input


class Recorder:
    """ASGI middleware: keeps the body of every chat completion request the sandbox receives, as received."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/chat/completions"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        self.bodies.append(body)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


@pytest.fixture
def recorder() -> Recorder:
    from stock_insights.sandbox.app import create_app

    return Recorder(create_app())


@pytest.fixture
def sandbox(recorder: Recorder) -> Iterator[ServerThread]:
    """The suite's sandbox, recording what it receives (``client_factory`` points the real SDK at it)."""
    with ServerThread(recorder) as server:
        yield server


def _sha256_of_received(body: bytes) -> str:
    """Written out here, independently of the code under test: sorted keys, no spaces, UTF-8 kept."""
    messages = json.loads(body)["messages"]
    text = json.dumps(messages, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.mark.parametrize("model", ["gpt-4o", "deepseek-v3"])
def test_the_prompt_hash_is_the_sha256_of_the_messages_the_server_received(
    recorder: Recorder, client_factory: Callable[[ModelEntry], Any], database_url: str, model: str
) -> None:
    predictor = LLMPredictor(entry(model), client_factory=client_factory)
    data = make_input()
    output = predictor.predict(data)
    assert output is not None and len(recorder.bodies) == 1
    assert output.prompt_hash == _sha256_of_received(recorder.bodies[0])
    assert "삼성전자" in json.loads(recorder.bodies[0])["messages"][-1]["content"]  # non-ASCII hashed as UTF-8
    # Another input, another prompt, another hash; a baseline sends no prompt and stores none.
    other = predictor.predict(make_input(name="SK하이닉스", code="000660"))
    assert other is not None and other.prompt_hash == _sha256_of_received(recorder.bodies[1])
    assert other.prompt_hash != output.prompt_hash
    baseline = MomentumPredictor().predict(data)
    assert baseline is not None and baseline.prompt_hash is None

    upgrade(database_url)
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        upsert_stocks(session, [KNOWN_LISTINGS["005930"]])
        upsert_predictions(
            session,
            [
                prediction_row(model, "005930", TARGET, 1, AS_OF, output),
                prediction_row("momentum", "005930", TARGET, 1, AS_OF, baseline),
            ],
        )
    with session_scope(engine) as session:
        stored = dict(session.execute(select(Prediction.model, Prediction.prompt_hash)).tuples().all())
    engine.dispose()
    assert stored == {model: _sha256_of_received(recorder.bodies[0]), "momentum": None}
