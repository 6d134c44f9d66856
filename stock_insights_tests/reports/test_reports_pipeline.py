"""reports/daily over the real graph, on SQLite and PostgreSQL, against the sandbox over HTTP.

Three trading days of bars, index bars, news, filings, forecasts, evaluations and standings; then
the reports: by the template without a key, by the LLM (the sandbox's OpenAI API) with one, a fault
that makes one answer invent a number, re-runs that change no row and make no call, the
point-in-time cut at the close, and the API serving each version as soon as it is written.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import dagster as dg
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from stock_insights import calendar
from stock_insights.defs.dart.resources import DartResource
from stock_insights.reports.facts import DART_VIEWER
from stock_insights.settings import get_settings, reset_settings_cache
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import (
    DailyBar,
    Evaluation,
    IndexBar,
    NewsArticle,
    NewsArticleSource,
    NewsStockLink,
    Prediction,
    Report,
)
from stock_insights_tests.news.conftest import DART_KEY
from stock_insights_tests.reports.conftest import OPENAI_KEY
from stock_insights_tests.test_slice_end_to_end import materialize

DAYS = (date(2026, 10, 14), date(2026, 10, 15), date(2026, 10, 16))
BARS_FROM = date(2026, 9, 21)  # momentum reads five sessions before the first forecast
CODES = ("000660", "005930", "035420", "035720")
REPORTS = [["reports", "daily"]]
SERVED = "gpt-4o-2024-08-06"  # the registry's gpt-4o entry pins this snapshot


def _run(
    keys: list[list[str]], instance: dg.DagsterInstance, start: date | None = None, end: date | None = None
) -> dg.ExecuteInProcessResult:
    """The code location's own resources (built from the fixture's settings), OpenDART at 50 requests a second."""
    from stock_insights.definitions import defs

    fast_dart = DartResource(base_url=get_settings().DART_BASE_URL, api_key=DART_KEY, requests_per_second=50)
    return materialize(keys, start, end, instance, resources={**defs.resources, "dart": fast_dart})


def _metadata(instance: dg.DagsterInstance, key: list[str]) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey(key))
    assert event is not None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}  # type: ignore[union-attr]


def _reports(url: str) -> dict[tuple[date, str], tuple]:
    engine = make_engine(url)
    with session_scope(engine) as session:
        rows = {
            (r.trading_date, r.scope): (r.markdown, r.sources, r.generator, r.created_at)
            for r in session.execute(select(Report)).scalars()
        }
    engine.dispose()
    return rows


def _openai_stats(sandbox_url: str) -> dict:
    return httpx.get(f"{sandbox_url}/_sandbox/stats").json()["openai"]


def _pct(value: float) -> str:
    return f"{value * 100:+.2f}%"


def _build_graph(instance: dg.DagsterInstance) -> None:
    assert _run([["universe", "stocks"]], instance).success
    assert _run([["kis", "daily_bars"], ["kis", "index_bars"]], instance, BARS_FROM, DAYS[-1]).success
    assert _run([["news", "naver"], ["news", "hankyung"], ["news", "maeil"]], instance).success
    assert _run([["dart", "corp_codes"]], instance).success
    assert _run([["dart", "disclosures"]], instance, DAYS[0], DAYS[-1]).success
    assert _run([["predictions", "daily"], ["evaluations", "daily"]], instance, DAYS[0], DAYS[-1]).success
    assert _run([["evaluations", "leaderboard"]], instance, DAYS[0], DAYS[-1]).success


def _login(client: TestClient) -> None:
    account = {"email": "reports@example.com", "password": "report-test-password"}
    assert client.post("/api/v1/auth/register", json=account).status_code == 201
    token = client.post("/api/v1/auth/token", data={"username": account["email"], "password": account["password"]})
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"


def test_daily_reports_template_llm_point_in_time_and_api(  # type: ignore[no-untyped-def]
    report_env: str, report_sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = report_env
    instance = dg.DagsterInstance.ephemeral()
    _build_graph(instance)

    # --- without a key: the template writes every report -------------------------------------------
    first = _run(REPORTS, instance, DAYS[0], DAYS[-1])
    assert first.success
    assert {c.check_name: c.passed for c in first.get_asset_check_evaluations()} == {
        "sources_first_seen_by_close": True
    }
    meta = _metadata(instance, ["reports", "daily"])
    assert meta["data_mode"] == "simulated" and meta["dagster/row_count"] == 5 * len(DAYS)
    assert meta["generators"] == {"template": 15} and meta["llm_calls"] == 0 and meta["new"] == 15
    assert "no key for provider openai" in meta["writer"]
    assert meta["report"].startswith(f"# Market: {DAYS[-1].isoformat()}")
    assert "## Standings" in meta["stock_reports"]

    stored = _reports(url)
    assert set(stored) == {(d, s) for d in DAYS for s in ("market", *CODES)}
    engine = make_engine(url)
    with session_scope(engine) as session:
        for day in DAYS:
            previous = calendar.previous_session(day)
            close = {
                (b.code, b.trading_date): b.close
                for b in session.execute(select(DailyBar).where(DailyBar.adjusted.is_(True))).scalars()
            }
            kospi = {
                b.trading_date: b.close
                for b in session.execute(select(IndexBar).where(IndexBar.index_code == "0001")).scalars()
            }
            # The day's move against the index, as the evaluations compute it.
            markdown = stored[(day, "005930")][0]
            own = close[("005930", day)] / close[("005930", previous)] - 1
            index = kospi[day] / kospi[previous] - 1
            assert f"({_pct(own)})" in markdown and f"KOSPI: {kospi[day]:,.2f} ({_pct(index)})" in markdown
            assert f"Excess over the index: **{_pct(own - index)}**" in markdown
            # Each model's forecast with its outcome, as scored.
            for p, e in session.execute(
                select(Prediction, Evaluation)
                .join(Evaluation, Evaluation.prediction_id == Prediction.id)
                .where(Prediction.target_date == day, Prediction.code == "005930", Prediction.horizon == 1)
            ):
                assert e.status == "scored"
                outcome = "hit" if e.hit else "miss"
                assert re.search(rf"\| {p.model} \| {p.direction} \| [\d.]+% \| [+-][\d.]+% \| {outcome} \|", markdown)
        sources = [s for (_, _), row in stored.items() for s in row[1]]
        filings = [s for s in sources if s["kind"] == "filing"]
        news = [s for s in sources if s["kind"] == "news"]
        assert filings and news, "three days of the sandbox have filings and news about the tracked stocks"
        assert all(s["url"] == DART_VIEWER.format(rcept_no=s["key"].split(":")[1]) for s in filings)
        assert all(s["url"].startswith("http") and s["outlet"] for s in news)
    for (_, _), (markdown, report_sources, generator, _) in stored.items():
        assert generator == "template"
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", markdown)}
        assert cited == {s["n"] for s in report_sources}  # every source cited, nothing else
        assert "## Sources" in markdown and ("## Forecasts" in markdown or "## Models today" in markdown)

    # --- a re-run over the same data changes no row ---------------------------------------------
    assert _run(REPORTS, instance, DAYS[0], DAYS[-1]).success
    assert _reports(url) == stored
    assert _metadata(instance, ["reports", "daily"])["unchanged"] == 15

    # --- point in time: news first seen after the close waits for the next day's report ------------
    close_at = calendar.session_close(DAYS[-1])
    with session_scope(engine) as session:
        for minutes, slug in ((0, "at-the-close"), (1, "after-the-close")):
            article = NewsArticle(
                canonical_url=f"https://www.hankyung.com/article/{slug}",
                title=f"삼성전자 {slug} 단독 보도",
                body="",
                published_at=close_at + timedelta(minutes=minutes - 5),
                first_seen_at=close_at + timedelta(minutes=minutes),
                content_hash=slug.ljust(64, "0"),
            )
            session.add(article)
            session.flush()
            # Carried by every outlet: it would be the most notable story of the day if it counted.
            for source in ("hankyung", "maeil", "naver", "reddit"):
                session.add(
                    NewsArticleSource(
                        article_id=article.id,
                        source=source,
                        source_url=f"{article.canonical_url}?via={source}",
                        fetched_at=close_at + timedelta(minutes=minutes),
                        published_at=article.published_at,
                        first_seen_at=article.first_seen_at,
                    )
                )
            session.add(NewsStockLink(article_id=article.id, code="005930", evidence={"matches": []}, confidence=0.99))
    engine.dispose()
    assert _run(REPORTS, instance, DAYS[-1], DAYS[-1]).success
    after = _reports(url)
    samsung = after[(DAYS[-1], "005930")]
    keys_seen = [s["title"] for s in samsung[1]]
    assert "삼성전자 at-the-close 단독 보도" in keys_seen and "삼성전자 after-the-close 단독 보도" not in keys_seen
    assert samsung[3] > stored[(DAYS[-1], "005930")][3]  # rewritten, so a new created_at
    assert after[(DAYS[0], "005930")] == stored[(DAYS[0], "005930")]  # other days untouched
    stored = after

    from api.main import create_app

    with TestClient(create_app()) as client:
        _login(client)
        answer = client.get(f"/api/v1/reports/daily/{DAYS[-1].isoformat()}")
        assert answer.status_code == 200
        body = answer.json()
        assert body["market"]["generator"] == "template" and body["data_mode"] == "simulated"
        assert [r["scope"] for r in body["stocks"]] == list(CODES)
        assert body["market"]["markdown"] == stored[(DAYS[-1], "market")][0]
        samsung_out = next(r for r in body["stocks"] if r["scope"] == "005930")
        assert samsung_out["sources"] == stored[(DAYS[-1], "005930")][1]

        # --- with a key: the LLM writes, through the sandbox's OpenAI API over HTTP ------------------
        monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
        reset_settings_cache()
        # The first report's answer (and the retry it earns) invents a number: that report stays the template.
        fault = {"path_contains": "/v1/chat/completions", "kind": "report_invented_number", "count": 2}
        assert httpx.post(f"{report_sandbox.url}/_sandbox/faults", json=fault).status_code == 200
        before_calls = _openai_stats(report_sandbox.url)
        llm = _run(REPORTS, instance, DAYS[0], DAYS[-1])
        assert llm.success
        calls = _openai_stats(report_sandbox.url)
        assert calls["chat_report_requests"] - before_calls["chat_report_requests"] == 15 + 1
        meta = _metadata(instance, ["reports", "daily"])
        assert meta["llm_calls"] == 16 and meta["cost_usd"] > 0 and meta["replays"] == 0
        assert meta["generators"] == {SERVED: 14, "template": 1}
        (reason,) = meta["fallbacks"].values()
        assert "12.34%" in reason and list(meta["fallbacks"]) == [f"{DAYS[0]} market"]
        written = _reports(url)
        assert written[(DAYS[0], "market")] == stored[(DAYS[0], "market")]  # unchanged: still the template
        for key, (markdown, report_sources, generator, _) in written.items():
            if key == (DAYS[0], "market"):
                continue
            assert generator == SERVED and "## Summary" in markdown
            summary = markdown.split("## Summary", 1)[1].split("\n## ", 1)[0]
            cited = {int(n) for n in re.findall(r"\[(\d+)\]", summary)}
            assert cited <= {s["n"] for s in report_sources}
            assert cited or not report_sources

        # The API answers the new version at once (its cache keys carry the reports dataset version).
        refreshed = client.get(f"/api/v1/reports/daily/{DAYS[-1].isoformat()}").json()
        assert refreshed["market"]["generator"] == SERVED
        assert refreshed["market"]["markdown"] == written[(DAYS[-1], "market")][0]

        # --- a re-run: every answer (the rejected one too) is replayed from the cache: no call, same rows
        assert _run(REPORTS, instance, DAYS[0], DAYS[-1]).success
        assert _openai_stats(report_sandbox.url)["chat_requests"] == calls["chat_requests"]
        meta = _metadata(instance, ["reports", "daily"])
        assert meta["llm_calls"] == 0 and meta["replays"] == 15 and meta["unchanged"] == 15
        assert _reports(url) == written
        again = client.get(f"/api/v1/reports/daily/{DAYS[-1].isoformat()}")
        assert again.json() == refreshed
        assert OPENAI_KEY not in again.text
    assert OPENAI_KEY not in str(meta)
