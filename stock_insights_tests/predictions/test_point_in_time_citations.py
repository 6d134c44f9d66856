"""``inputs_first_seen_before_cutoff`` covers what a rationale cites (issue 13 §2): it fails on a planted late
citation and on a rationale citing a document that ``cited_inputs`` does not record, through Dagster."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
from sqlalchemy import select

from stock_insights.defs.predictions.assets import POINT_IN_TIME_CHECK, cutoff_for
from stock_insights.predictors.store import upsert_predictions
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import NewsArticle
from stock_insights_tests.test_slice_end_to_end import materialize

DAY = date(2026, 10, 28)
ONLY_MOMENTUM = {"ops": {"predictions__daily": {"config": {"models": ["momentum"]}}}}


def _planted(code: str, summary: str, documents: list[dict[str, str]]) -> dict:
    return {
        "model": "planted", "code": code, "target_date": DAY, "horizon": 1, "as_of": cutoff_for(DAY),
        "direction": "up", "prob_up": 0.6, "expected_return": 0.001,
        "rationale": {"positive": [], "concerns": [], "summary": summary},
        "cited_inputs": {"prices": [], "documents": documents, "financials": []},
        "prompt_version": None, "prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0,
        "cost_usd": 0.0, "replay": False,
    }  # fmt: skip


def _predict_with_momentum(resources: dict[str, Any]) -> dg.ExecuteInProcessResult:
    """predictions/daily of DAY with its checks, momentum only (no news or LLM needed), as Dagster runs it."""
    return materialize([["predictions", "daily"]], DAY, DAY, resources=resources, run_config=ONLY_MOMENTUM)


def _check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    assert result.success
    (evaluation,) = [c for c in result.get_asset_check_evaluations() if c.check_name == POINT_IN_TIME_CHECK]
    return evaluation


def test_the_point_in_time_check_fails_on_a_late_or_unrecorded_rationale_citation(  # type: ignore[no-untyped-def]
    sandbox_env: str, resources: dict[str, Any]
) -> None:
    assert materialize([["universe", "stocks"]], resources=resources).success
    assert materialize([["news", "naver"]], resources=resources).success  # the sandbox's Naver, through the resource
    assert materialize([["kis", "daily_bars"]], date(2026, 9, 1), DAY, resources=resources).success
    cutoff = cutoff_for(DAY)
    engine = make_engine(sandbox_env)
    with session_scope(engine) as session:
        early = session.execute(
            select(NewsArticle.id, NewsArticle.first_seen_at).where(NewsArticle.first_seen_at < cutoff).limit(1)
        ).one()
        late = session.execute(
            select(NewsArticle.id).where(NewsArticle.first_seen_at >= datetime(2026, 10, 31, tzinfo=UTC)).limit(1)
        ).scalar_one()

    # The control: the same run without a planted row passes.
    assert _check(_predict_with_momentum(resources)).passed

    with session_scope(engine) as session:
        upsert_predictions(session, [
            # A late document, recorded with a first sighting that looks early: the database's says otherwise.
            _planted("005930", f"Record orders [news:{late}].", [
                {"doc_type": "news", "doc_id": str(late), "first_seen_at": early.first_seen_at.isoformat()}
            ]),
            # An early document, cited in the text only: not in cited_inputs, so a reader could not check it.
            _planted("000660", f"Upgrades continue (news:{early.id}).", []),
        ])  # fmt: skip
    engine.dispose()

    evaluation = _check(_predict_with_momentum(resources))
    assert not evaluation.passed
    leaks = evaluation.metadata["leaks"].value
    assert leaks == [
        f"planted 000660 {DAY}: news {early.id} cited in the rationale, not recorded in cited_inputs",
        f"planted 005930 {DAY}: news {late}",
    ], leaks
