"""GET /api/v1/evaluations/leaderboard serves the evaluations/leaderboard snapshot: the same numbers, per horizon."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import numpy as np
import pytest

from stock_insights import calendar
from stock_insights.defs.evaluations.leaderboard import snapshot_rows
from stock_insights.market.store import upsert_stocks
from stock_insights.metrics.leaderboard import Settings
from stock_insights.metrics.scoring import score
from stock_insights.predictors.store import scored_rows, upsert_evaluations, upsert_predictions
from stock_insights.storage.datasets import Dataset
from stock_insights.storage.db import bump_dataset_version, make_engine, session_scope, upsert
from stock_insights.storage.models import LeaderboardSnapshot, Prediction
from stock_insights.universe import KNOWN_LISTINGS
from stock_insights_tests.api.helpers import Api, make_user

PROBLEM = "application/problem+json"
CODES = ["000660", "005930", "035420", "005380", "051910", "068270"]
LAST = date(2026, 10, 30)
DAYS = calendar.sessions(date(2026, 8, 1), LAST)[-30:]
SHORT_DAYS = 5  # "late" enters on the last five sessions only: too few dates to be ranked
SETTINGS = Settings(top_k=2, min_stocks=4)
TOL = 1e-12


def _seed(url: str) -> dict:
    """Three models over 30 sessions of six stocks, horizon 1 and 5, scored by the pipeline's own rule; then the
    asset's snapshot of LAST, stored as the asset stores it. Returns the stored payload of the 20-day window."""
    rng = np.random.default_rng(11)
    returns = rng.normal(0.0, 0.02, (len(DAYS), len(CODES)))
    returns[-2, 0] = 0.0  # an unchanged close: counted, scored as "not up"
    index = rng.normal(0.0, 0.01, len(DAYS))
    engine = make_engine(url)
    with session_scope(engine) as session:
        upsert_stocks(session, [KNOWN_LISTINGS[c] for c in CODES])
        predictions = []
        for model, skill in (("signal", 0.8), ("noise", 0.0), ("late", 0.5)):
            for t, day in enumerate(DAYS):
                if model == "late" and t < len(DAYS) - SHORT_DAYS:
                    continue
                for s, code in enumerate(CODES):
                    for horizon in (1, 5):
                        if horizon == 5 and t + 4 >= len(DAYS):
                            continue
                        seen = skill * np.sign(returns[t, s]) + rng.normal(0, 1)
                        prob = float(1 / (1 + np.exp(-seen)))
                        predictions.append(
                            {
                                "model": model,
                                "code": code,
                                "target_date": day,
                                "horizon": horizon,
                                "as_of": datetime.combine(calendar.previous_session(day), time(23), tzinfo=UTC),
                                "direction": "up" if prob > 0.55 else "down" if prob < 0.45 else "flat",
                                "prob_up": prob,
                                "expected_return": 0.01 * (prob - 0.5),
                                "rationale": {},
                                "cited_inputs": {},
                            }
                        )
        upsert_predictions(session, predictions)
        session.flush()
        evaluations = []
        for p in session.query(Prediction).all():
            t, s = DAYS.index(p.target_date), CODES.index(p.code)
            exit_t = t + p.horizon - 1
            realized = float(returns[t, s]) if p.horizon == 1 else float(np.prod(1 + returns[t : exit_t + 1, s]) - 1)
            market = float(index[t]) if p.horizon == 1 else float(np.prod(1 + index[t : exit_t + 1]) - 1)
            sc = score(
                direction=p.direction,  # type: ignore[arg-type]
                prob_up=p.prob_up,
                expected_return=p.expected_return,
                entry_price=1000.0,
                exit_price=1000.0 * (1 + realized),
            )
            evaluations.append(
                {
                    "prediction_id": p.id,
                    "status": "scored",
                    "entry_date": calendar.previous_session(p.target_date),
                    "exit_date": DAYS[exit_t],
                    "entry_price": 1000.0,
                    "exit_price": 1000.0 * (1 + realized),
                    "realized_return": sc.realized_return,
                    "realized_direction": sc.realized_direction,
                    "hit": sc.hit,
                    "brier": sc.brier,
                    "log_loss": sc.log_loss,
                    "return_error": sc.return_error,
                    "market_return": market,
                    "excess_return": sc.realized_return - market,
                    "scored_at": datetime(2026, 10, 31, tzinfo=UTC),
                }
            )
        upsert_evaluations(session, evaluations)
        session.flush()
        _, rows = snapshot_rows(session, LAST, SETTINGS, experiments=[])
        upsert(session, LeaderboardSnapshot.__table__, rows, update=["payload", "markdown", "created_at"])
        bump_dataset_version(session, Dataset.LEADERBOARD)
    engine.dispose()
    return {r["window"]: r["payload"] for r in rows}


def _close(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is b
    return abs(float(a) - float(b)) <= TOL  # type: ignore[arg-type]


def test_the_route_serves_the_assets_numbers_per_horizon(api: Api) -> None:
    payloads = _seed(api.url)
    headers = api.headers_for(make_user(api.url, "u@example.com"), "user")
    answer = api.client.get("/api/v1/evaluations/leaderboard", params={"window": 20}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    stored = payloads[20]
    assert (body["window"], body["horizon"], body["as_of_date"]) == (20, 1, LAST.isoformat())
    assert body["from_date"] == DAYS[-20].isoformat() and body["to_date"] == LAST.isoformat()
    assert body["data_mode"] == "simulated" and "up iff realized_return > 0" in body["outcome_rule"]

    served = {m["model"]: m for m in body["items"]}
    assert set(served) == {"signal", "noise", "late"}
    for m in stored["models"]:
        row = served[m["model"]]
        pairs = [
            (row["n"], m["n_predictions"]),
            (row["hits"]["rate"], m["hit_rate"]["rate"]),
            (row["hits"]["ci_low"], m["hit_rate"]["ci_low"]),
            (row["hits"]["ci_high"], m["hit_rate"]["ci_high"]),
            (row["mcc"], m["confusion"]["mcc"]),
            (row["brier"], m["brier"]["brier"]),
            (row["brier_skill"], m["brier"]["skill"]),
            (row["log_loss"], m["log_loss"]),
            (row["calibration"]["ece"], m["calibration"]["ece"]),
            (row["excess_return"]["mean"], m["excess_return"]["mean"]),
            (row["long_short"]["information_ratio"], m["portfolio"]["net"]["information_ratio"]),
            (row["long_short"]["cumulative_return"], m["portfolio"]["net"]["cumulative_return"]),
        ]
        ics = {i["score"]: i for i in row["information_coefficients"]}
        for name, value in m["ic"].items():
            pairs.append((ics[name]["ic"]["mean"], value["ic"]["mean"]))
            pairs.append((ics[name]["rank_ic"]["ir"], value["rank_ic"]["ir"]))
        pairs += [
            (b["observed_frequency"], s["observed_frequency"])
            for b, s in zip(row["calibration"]["bins"], m["calibration"]["bins"], strict=True)
        ]
        assert all(_close(a, b) for a, b in pairs), (m["model"], pairs)
    assert {c["model_a"] + "/" + c["model_b"] for c in body["comparisons"]} == {
        "late/noise", "late/signal", "noise/signal"
    }
    for served_pair, pair in zip(body["comparisons"], stored["comparisons"]["pairs"], strict=True):
        assert _close(served_pair["mcnemar"]["p_holm"], pair["mcnemar_p_holm"])
        assert _close(served_pair["diebold_mariano"]["p_holm"], pair["diebold_mariano_p_holm"])
        assert served_pair["verdict"] == pair["verdict"]

    # Independent of the payload: the hits of the binary rule, counted from the seeded rows by hand.
    engine = make_engine(api.url)
    with session_scope(engine) as session:
        window = [r for r in scored_rows(session, DAYS[-20], LAST) if r["model"] == "signal"]
    engine.dispose()
    signal = served["signal"]
    assert signal["n"] == len(window) == 20 * len(CODES) and signal["n_dates"] == 20 and signal["rank"] in (1, 2)
    assert signal["hits"]["hits"] == sum((r["direction"] == "up") == (r["realized_return"] > 0) for r in window)
    assert signal["n_unchanged"] == sum(r["realized_return"] == 0 for r in window) == 1
    ups = [r["excess_return"] for r in window if r["direction"] == "up"]
    assert signal["excess_return"]["n"] == len(ups) and _close(signal["excess_return"]["mean"], sum(ups) / len(ups))
    # Too few dates: listed, not ranked, and its pairs get no verdict.
    late = served["late"]
    assert late["rank"] is None and "too few dates" in late["unranked_reason"] and late["n_dates"] == SHORT_DAYS
    late_pairs = [c for c in body["comparisons"] if "late" in (c["model_a"], c["model_b"])]
    assert all(c["verdict"].startswith("too few paired dates") for c in late_pairs)
    assert all(c["better_on_hits"] is None and c["better_on_loss"] is None for c in late_pairs)
    assert sorted(m["rank"] for m in body["items"] if m["rank"] is not None) == [1, 2]

    # Horizon 5: its own board, no long-short book, and the reason.
    week = api.client.get(
        "/api/v1/evaluations/leaderboard", params={"window": 20, "horizon": 5}, headers=headers
    ).json()
    assert week["horizon"] == 5
    week_stored = {m["model"]: m for m in stored["horizon_5"]["models"]}
    for row in week["items"]:
        assert _close(row["brier"], week_stored[row["model"]]["brier"]["brier"])
        assert row["long_short"]["available"] is False and "overlap" in row["long_short"]["reason"]
    assert {r["n"] for r in week["items"]} != {r["n"] for r in body["items"]}  # horizons are not mixed

    # One model, an explicit day; the dashboard's standings are the 20-day horizon-1 board.
    one = api.client.get(
        "/api/v1/evaluations/leaderboard",
        params={"window": 60, "model": "signal", "date": LAST.isoformat()},
        headers=headers,
    ).json()
    assert [m["model"] for m in one["items"]] == ["signal"] and one["window"] == 60
    assert all("signal" in (c["model_a"], c["model_b"]) for c in one["comparisons"])
    stats = api.client.get("/api/v1/dashboard/stats", headers=headers).json()
    assert [(m["model"], m["count"], m["brier"]) for m in stats["models"]] == [
        (m["model"], m["n"], m["brier"]) for m in body["items"]
    ]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"window": 30}, 422),
        ({"horizon": 2}, 422),
        ({"date": "yesterday"}, 422),
        ({"model": "a b"}, 422),
        ({"model": "nobody"}, 404),
        ({"date": "2026-10-29"}, 404),
    ],
)
def test_bad_parameters_are_problems(api: Api, params: dict, status: int) -> None:
    _seed(api.url)
    headers = api.headers_for(make_user(api.url, "u@example.com"), "user")
    answer = api.client.get("/api/v1/evaluations/leaderboard", params=params, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM


def test_no_snapshot_yet_says_so(api: Api) -> None:
    headers = api.headers_for(make_user(api.url, "u@example.com"), "user")
    body = api.client.get("/api/v1/evaluations/leaderboard", headers=headers).json()
    assert body["items"] == [] and body["as_of_date"] is None and "No leaderboard" in body["note"]
