"""While Milvus is away, search logs the outage once per change of state, not once per request: neither the
search route nor the Milvus client library (pymilvus logs an error and a warning with tracebacks per failed call).

Milvus is a port where nothing listens (``set_api_env``): every uncached search is refused by the vector store
and answers the lexical fallback. Forty distinct queries (cache misses, each asking Milvus) give one warning.
Then semantic search comes back (the Milvus call answers) and the recovery is one line; a second outage is
again one line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

import api.routes.search as search_route
from stock_insights_tests.api.helpers import Api, make_user

REQUESTS = 40


def _outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "semantic search" in r.getMessage()]


@pytest.fixture
def pymilvus_records(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """pymilvus logs to a stderr handler of its own and does not propagate: caplog listens to it too."""
    logger = logging.getLogger("pymilvus")
    logger.addHandler(caplog.handler)
    yield
    logger.removeHandler(caplog.handler)


def test_a_milvus_outage_is_logged_once_not_per_request(
    seeded: Api, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, pymilvus_records: None
) -> None:
    headers = seeded.headers_for(make_user(seeded.url, "reader@example.com"), "user")

    def search(n: int) -> str:
        answer = seeded.client.get("/api/v1/search", params={"q": f"삼성전자 {n}"}, headers=headers)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["mode"])

    caplog.set_level(logging.INFO)
    modes = [search(n) for n in range(REQUESTS)]
    assert modes == ["lexical-fallback"] * REQUESTS
    lines = _outage_lines(caplog)
    assert len(lines) == 1, lines
    assert "unavailable" in lines[0]
    # Nor does the Milvus client library log each failed call (an ERROR and a WARNING with tracebacks per call).
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) == 1, f"{len(loud)} warnings or errors for one outage: {[r.getMessage()[:80] for r in loud[:3]]}"
    assert seeded.state.vector_health.down_since is not None
    assert seeded.state.vector_health.degraded_answers == REQUESTS

    unreachable = search_route._vector_hits
    # Milvus answers again (the search call itself, not the store, is replaced: no hit, the model's name).
    monkeypatch.setattr(search_route, "_vector_hits", lambda *args: ("hashing-test", []))
    assert [search(REQUESTS + n) for n in range(5)] == ["semantic"] * 5
    lines = _outage_lines(caplog)
    assert len(lines) == 2 and "available again" in lines[1] and f"{REQUESTS} answer(s)" in lines[1], lines

    monkeypatch.setattr(search_route, "_vector_hits", unreachable)  # away again: one more line, however many
    assert [search(2 * REQUESTS + n) for n in range(10)] == ["lexical-fallback"] * 10
    assert len(_outage_lines(caplog)) == 3


def test_the_milvus_client_does_not_log_each_call_to_a_server_that_went_away(
    api: Api, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, pymilvus_records: None,
    tmp_path: Path,
) -> None:
    """A server that answered once and then went away (a Milvus Lite server of this test's own, stopped): pymilvus
    keeps the connection per address and logs every failed call and reconnection with a traceback."""
    from stock_insights.embeddings import server as milvus_server
    from stock_insights.settings import reset_settings_cache

    lite = milvus_server.start("lite", tmp_path / "milvus", timeout=120)
    try:
        monkeypatch.setenv("MILVUS_URI", lite.uri)
        reset_settings_cache()
        headers = api.headers_for(make_user(api.url, "reader@example.com"), "user")
        first = api.client.get("/api/v1/search", params={"q": "first"}, headers=headers)
        assert first.status_code == 200  # no collection: the fallback, but the server answered
    finally:
        lite.stop(grace=5)
    caplog.clear()
    caplog.set_level(logging.INFO)
    for n in range(20):
        assert api.client.get("/api/v1/search", params={"q": f"q{n}"}, headers=headers).status_code == 200
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) <= 1, f"{len(loud)} warnings or errors for one outage: {[r.getMessage()[:80] for r in loud[:3]]}"
