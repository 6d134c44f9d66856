"""The MCP server over Streamable HTTP at /mcp, driven by the SDK's own client against a real uvicorn server."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import pytest
from sqlalchemy import select

from api.mcp.bounds import MAX_ANSWER_CHARS
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import Experiment, ExperimentArm, Report
from stock_insights_tests.api.helpers import BAR_DAYS
from stock_insights_tests.mcp.conftest import Site, answer_of, error_of, http_client

TOOLS = {
    "find_stock",
    "stock_snapshot",
    "forecasts",
    "track_record",
    "search_documents",
    "daily_report",
    "experiments",
}


def _add_experiment(url: str) -> None:
    engine = make_engine(url)
    with session_scope(engine) as session:
        experiment = Experiment(name="llm-vs-momentum", description="", status="running", created_at=datetime.now(UTC))
        session.add(experiment)
        session.flush()
        session.add_all(
            [
                ExperimentArm(experiment_id=experiment.id, name="control", model="momentum", weight=1.0),
                ExperimentArm(experiment_id=experiment.id, name="treatment", model="llm", weight=1.0),
            ]
        )
    engine.dispose()


def test_every_tool_answers_over_http_with_data_mode_and_as_of(site: Site) -> None:
    _add_experiment(site.database_url)
    key = site.create_key(site.login("analyst@example.com"))["key"]
    last_day = BAR_DAYS[-1].isoformat()
    calls = {
        "find_stock": {"query": "삼성전자"},
        "stock_snapshot": {"code": "005930", "as_of": "2026-12-04T18:00:00+09:00"},
        "stock_snapshot_earlier": {"code": "005930", "as_of": "2026-10-20T06:00:00Z"},
        "forecasts": {"code": "005930", "model": "momentum", "limit": 3},
        "track_record": {"window": 20},
        "search_documents": {"query": "자사주", "code": "005930"},
        "daily_report": {"date": last_day},
        "experiments": {},
    }

    async def run() -> dict[str, dict]:
        async with http_client(site, key) as client:
            listed = await client.list_tools()
            assert {t.name for t in listed.tools} == TOOLS
            for tool in listed.tools:
                assert tool.description and tool.input_schema["type"] == "object"
                assert tool.annotations is not None and tool.annotations.read_only_hint
            return {
                name: answer_of(await client.call_tool(name.removesuffix("_earlier"), args))
                for name, args in calls.items()
            }

    answers = anyio.run(run)
    for name, body in answers.items():
        assert body["data_mode"] == "simulated", name
        assert datetime.fromisoformat(body["as_of"]).tzinfo is not None, name
    assert answers["find_stock"]["items"][0]["code"] == "005930"
    snapshot = answers["stock_snapshot"]
    assert snapshot["as_of"] == "2026-12-04T09:00:00+00:00"
    assert snapshot["stock"]["code"] == "005930" and snapshot["bars"][-1]["trading_date"] == last_day
    assert snapshot["move_1d"]["return"] == pytest.approx(
        snapshot["bars"][-1]["close"] / snapshot["bars"][-2]["close"] - 1
    )
    assert snapshot["filings"] and all(f["code"] == "005930" for f in snapshot["filings"])
    # Earlier: only what had been seen by then (the seeded bars were stored "today", the news over October 19-20).
    earlier = answers.pop("stock_snapshot_earlier")
    assert earlier["as_of"] == "2026-10-20T06:00:00+00:00" and earlier["bars"] == [] and earlier["move_1d"] is None
    assert earlier["news"] and all(n["first_seen_at"] <= "2026-10-20T06:00:00+00:00" for n in earlier["news"])
    assert max(n["first_seen_at"] for n in snapshot["news"]) > "2026-10-20T06:00:00+00:00"
    forecasts = answers["forecasts"]
    assert len(forecasts["items"]) == 3 and forecasts["more"] is True
    assert {f["model"] for f in forecasts["items"]} == {"momentum"}
    assert all("cited_inputs" in f and f["outcome"]["status"] == "scored" for f in forecasts["items"])
    assert answers["track_record"]["items"] == [] and "leaderboard" in answers["track_record"]["note"]
    search = answers["search_documents"]
    assert search["mode"] == "lexical-fallback" and search["items"]  # no Milvus in this test: the fallback, marked
    assert all(h["url"] and h["first_seen_at"] for h in search["items"])
    assert answers["daily_report"]["reports"][0]["markdown"].startswith("# Market")
    assert answers["experiments"]["items"][0]["name"] == "llm-vs-momentum"


def test_forecasts_without_a_model_follow_the_callers_ab_arm(site: Site) -> None:
    _add_experiment(site.database_url)
    key = site.create_key(site.login("user@example.com"))["key"]

    async def run() -> dict:
        async with http_client(site, key) as client:
            return answer_of(await client.call_tool("forecasts", {"code": "005930", "limit": 50}))

    body = anyio.run(run)
    assignment = body["assignment"]
    assert assignment["experiment"] == "llm-vs-momentum"
    assert {f["model"] for f in body["items"]} == {assignment["model"]}  # only the caller's arm, as REST serves


def test_anonymous_and_invalid_callers_are_refused(site: Site) -> None:
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2025-11-25"}
    for auth in ({}, {"Authorization": "Bearer sik_not-a-key"}, {"Authorization": "Bearer not.a.jwt"}):
        answer = site.rest.post("/mcp", json=initialize, headers={**headers, **auth})
        assert answer.status_code == 401, answer.text
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert answer.headers["content-type"] == "application/problem+json"

    async def run() -> None:
        async with http_client(site, None) as client:
            await client.list_tools()

    with pytest.raises(Exception):  # noqa: B017 - the SDK client surfaces the 401 as its own error
        anyio.run(run)


def test_a_revoked_key_is_refused_at_once(site: Site) -> None:
    token = site.login("user@example.com")
    created = site.create_key(token)
    outcome: dict[str, object] = {}

    async def run() -> None:
        async with http_client(site, created["key"]) as client:
            outcome["before"] = answer_of(await client.call_tool("find_stock", {"query": "005930"}))
            assert site.revoke_key(token, created["id"]).status_code == 204
            try:
                await client.call_tool("find_stock", {"query": "005930"})
            except Exception as exc:  # the next request on the same connection: 401
                outcome["after"] = exc

    anyio.run(run)
    assert outcome["before"] and "after" in outcome
    bare = site.rest.get("/api/v1/stocks", headers={"Authorization": f"Bearer {created['key']}"})
    assert bare.status_code == 401 and "revoked" in bare.json()["detail"]


def test_a_user_without_the_analyst_role_cannot_read_experiments(site: Site) -> None:
    _add_experiment(site.database_url)
    token = site.login("user@example.com")
    key = site.create_key(token)["key"]

    async def run() -> list[str]:
        refusals = []
        for credential in (token, key):  # an access token and an API key alike
            async with http_client(site, credential) as client:
                refusals.append(error_of(await client.call_tool("experiments", {})))
                refusals.append(error_of(await client.call_tool("experiments", {"experiment_id": 1})))
        return refusals

    refusals = anyio.run(run)
    assert all("analyst role" in r and "llm-vs-momentum" not in r for r in refusals)
    assert site.rest.get("/api/v1/experiments", headers={"Authorization": f"Bearer {key}"}).status_code == 403


def test_a_demoted_analysts_key_loses_experiments_at_once(site: Site) -> None:
    key = site.create_key(site.login("analyst@example.com"))["key"]
    engine = make_engine(site.database_url)

    async def call() -> bool:
        async with http_client(site, key) as client:
            return (await client.call_tool("experiments", {})).is_error

    assert anyio.run(call) is False
    with session_scope(engine) as session:
        from stock_insights.storage.models import User

        user = session.scalars(select(User).where(User.email == "analyst@example.com")).one()
        user.role = "user"
    engine.dispose()
    assert anyio.run(call) is True


def test_answers_stay_within_their_bound(site: Site) -> None:
    huge = "# Market\n\n" + "삼성전자 자사주 매입 " * 20_000  # 300,000 characters of Markdown
    engine = make_engine(site.database_url)
    with session_scope(engine) as session:
        session.add(
            Report(
                trading_date=BAR_DAYS[0], scope="market", markdown=huge, sources=[], generator="template",
                created_at=datetime.now(UTC),
            )
        )
    engine.dispose()
    key = site.create_key(site.login("analyst@example.com"))["key"]
    calls = [
        ("daily_report", {"date": BAR_DAYS[0].isoformat()}),
        ("forecasts", {"date": BAR_DAYS[-1].isoformat(), "limit": 50}),
        ("find_stock", {"query": "0", "limit": 20}),
        ("search_documents", {"query": "뉴스", "limit": 20}),
        ("stock_snapshot", {"code": "005930", "items": 10}),
    ]

    async def run() -> list[tuple[str, dict]]:
        async with http_client(site, key) as client:
            out = []
            for name, args in calls:
                result = await client.call_tool(name, args)
                assert len(result.content[0].text) <= MAX_ANSWER_CHARS, name  # type: ignore[union-attr]
                out.append((name, answer_of(result)))
            return out

    bodies = dict(anyio.run(run))
    report = bodies["daily_report"]
    assert report["truncated"] is True and report["reports"][0]["markdown"].endswith("…")
    assert len(bodies["find_stock"]["items"]) <= 20 and len(bodies["search_documents"]["items"]) <= 20


def test_bad_arguments_are_refused_with_a_clear_error(site: Site) -> None:
    key = site.create_key(site.login("user@example.com"))["key"]

    async def run() -> list[str]:
        async with http_client(site, key) as client:
            return [
                error_of(await client.call_tool("stock_snapshot", {"code": "5930"})),
                error_of(await client.call_tool("stock_snapshot", {"code": "999999"})),
                error_of(await client.call_tool("forecasts", {})),
                error_of(await client.call_tool("forecasts", {"code": "005930", "model": "nope"})),
                error_of(await client.call_tool("stock_snapshot", {"code": "005930", "as_of": "2026-10-20T09:00"})),
                error_of(await client.call_tool("daily_report", {"date": "2026-01-01"})),
            ]

    short_code, unknown, neither, model, naive, no_report = anyio.run(run)
    assert "code" in short_code
    assert "not tracked" in unknown
    assert "code or a target date" in neither
    assert "known models" in model and "momentum" in model
    assert "as_of" in naive
    assert "no report" in no_report


def test_resources_serve_the_report_and_the_leaderboard(site: Site) -> None:
    key = site.create_key(site.login("user@example.com"))["key"]

    async def run() -> tuple[list[str], str, str]:
        async with http_client(site, key) as client:
            templates = await client.list_resource_templates()
            report = await client.read_resource(f"stock-insights://reports/daily/{BAR_DAYS[-1].isoformat()}")
            board = await client.read_resource("stock-insights://leaderboard/20")
            return (
                [t.uri_template for t in templates.resource_templates],
                report.contents[0].text,  # type: ignore[union-attr]
                board.contents[0].text,  # type: ignore[union-attr]
            )

    uris, report, board = anyio.run(run)
    assert set(uris) == {"stock-insights://reports/daily/{day}", "stock-insights://leaderboard/{window}"}
    assert '"data_mode":"simulated"' in report and "# Market" in report
    assert '"data_mode":"simulated"' in board and '"window":20' in board
