"""GET /api/v1/ledger/{date} serves the seal as sealed (not the predictions table as it is now), with its digest,
previous digest and sealing time; /canonical gives the exact bytes of the digest. Both backends."""

from __future__ import annotations

import hashlib

from sqlalchemy import update

from stock_insights.ledger import FORMAT, seal_day
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import Prediction
from stock_insights_tests.api.conftest import api  # noqa: F401  (the fixture)
from stock_insights_tests.api.helpers import Api, make_user
from stock_insights_tests.ledger.helpers import DAYS, seal_time, seed

PROBLEM = "application/problem+json"


def test_the_route_serves_the_sealed_rows_and_bytes(api: Api) -> None:  # noqa: F811
    seed(api.url, DAYS[:2])
    engine = make_engine(api.url)
    for day in DAYS[:2]:
        with session_scope(engine) as session:
            seal_day(session, day, seal_time(day))
    headers = api.headers_for(make_user(api.url, "reader@example.com"), "user")
    day = DAYS[1]

    assert api.client.get(f"/api/v1/ledger/{day}").status_code == 401
    answer = api.client.get(f"/api/v1/ledger/{day}", headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    first = api.client.get(f"/api/v1/ledger/{DAYS[0]}", headers=headers).json()
    assert body["data_mode"] == "simulated" and body["format"] == FORMAT
    assert body["previous_digest"] == first["chain_digest"] and first["previous_digest"] == "0" * 64
    assert body["sealed_at"].startswith("2026-11-30T23:05:00") and body["sealed_before_open"] is True
    assert body["row_count"] == len(body["rows"]) == 9
    assert {r["model"] for r in body["rows"]} == {"momentum", "news_tone"}  # no late forecast
    row = next(r for r in body["rows"] if r["model"] == "news_tone" and r["code"] == "035420")
    assert row["prob_up"] == 0.65 and row["documents"][0]["doc_id"] == "03542001"

    canonical = api.client.get(f"/api/v1/ledger/{day}/canonical", headers=headers).json()
    assert hashlib.sha256(canonical["canonical"].encode("utf-8")).hexdigest() == body["digest"] == canonical["digest"]
    chained = hashlib.sha256((body["previous_digest"] + body["digest"]).encode()).hexdigest()
    assert chained == body["chain_digest"]

    filtered = api.client.get(f"/api/v1/ledger/{day}?model=news_tone&code=035420", headers=headers).json()
    assert [(r["model"], r["code"]) for r in filtered["rows"]] == [("news_tone", "035420")]
    assert filtered["row_count"] == 9

    # The forecast changed in the database afterwards: the ledger still serves what was sealed.
    with session_scope(engine) as session:
        session.execute(update(Prediction).where(Prediction.target_date == day).values(prob_up=0.01))
    engine.dispose()
    fresh = api.client.get(f"/api/v1/ledger/{day}?code=035420", headers=headers).json()
    assert next(r for r in fresh["rows"] if r["model"] == "news_tone")["prob_up"] == 0.65

    missing = api.client.get(f"/api/v1/ledger/{DAYS[3]}", headers=headers)
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    assert api.client.get("/api/v1/ledger/2026-13-01", headers=headers).status_code == 422
    assert api.client.get(f"/api/v1/ledger/{day}?code=5930", headers=headers).status_code == 422
