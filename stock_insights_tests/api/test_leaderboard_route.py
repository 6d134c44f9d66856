"""GET /api/v1/evaluations/leaderboard serves the evaluations/leaderboard snapshot: the same numbers, per horizon;
live forecasts by default, late ones only when asked and labelled, and the board after each training cutoff."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pytest

from stock_insights import calendar
from stock_insights.clock import KST
from stock_insights.defs.evaluations.leaderboard import snapshot_rows
from stock_insights.market.store import upsert_stocks
from stock_insights.metrics.leaderboard import Settings
from stock_insights.metrics.scoring import score
from stock_insights.predictors.store import scored_rows, scored_versions, upsert_evaluations, upsert_predictions
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
# Training cutoffs as the registry states them: "signal" learns nothing, "noise" read up to September 2026, the
# others are not listed (unknown: nothing of theirs counts as after the cutoff).
CUTOFFS: dict[str, str | None] = {"signal": None, "noise": "2026-09"}
BACKFILLED_DAYS = 12  # "backfilled" forecasts the last 12 sessions, stored on 2 November: all late
STORED_LATER = datetime(2026, 11, 2, 10, tzinfo=KST)


def _planted(day: date, code: str, prob: float, model: str, as_of: datetime, created_at: datetime) -> dict:
    return {
        "model": model, "code": code, "target_date": day, "horizon": 1, "as_of": as_of, "created_at": created_at,
        "direction": "up" if prob > 0.55 else "down" if prob < 0.45 else "flat", "prob_up": prob,
        "expected_return": 0.01 * (prob - 0.5), "rationale": {}, "cited_inputs": {},
    }  # fmt: skip


def _late_rows(rng: np.random.Generator) -> list[dict]:
    """A model backfilled after the fact, and a refresh of one "signal" forecast cut off after the open of LAST
    that flips its call: both late by the ledger's rule."""
    rows = [
        _planted(day, code, float(rng.uniform(0.2, 0.8)), "backfilled", datetime.combine(day, time(8), tzinfo=KST),
                 STORED_LATER)
        for day in DAYS[-BACKFILLED_DAYS:] for code in CODES
    ]  # fmt: skip
    refresh = datetime.combine(LAST, time(10), tzinfo=KST)
    return [*rows, _planted(LAST, CODES[1], 0.97, "signal", refresh, refresh + timedelta(seconds=30))]


def _seed(url: str, *, plant: bool = False) -> dict:
    """Three models over 30 sessions of six stocks, horizon 1 and 5, made at 08:00 KST and stored at once (live),
    scored by the pipeline's own rule; ``plant``: late forecasts too (:func:`_late_rows`). Then the asset's snapshot
    of LAST, stored as the asset stores it. Returns the stored payloads by window."""
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
                        as_of = datetime.combine(calendar.previous_session(day), time(23), tzinfo=UTC)
                        predictions.append(
                            {
                                "model": model,
                                "code": code,
                                "target_date": day,
                                "horizon": horizon,
                                "as_of": as_of,
                                "created_at": as_of + timedelta(seconds=30),  # the 08:00 run: live
                                "direction": "up" if prob > 0.55 else "down" if prob < 0.45 else "flat",
                                "prob_up": prob,
                                "expected_return": 0.01 * (prob - 0.5),
                                "rationale": {},
                                "cited_inputs": {},
                            }
                        )
        upsert_predictions(session, predictions)
        if plant:
            upsert_predictions(session, _late_rows(rng))
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
        _, rows = snapshot_rows(session, LAST, SETTINGS, experiments=[], cutoffs=CUTOFFS)
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
    # Every forecast is live: the live board is the full computation's rows, stored as a reference, not again.
    assert stored["variants"]["live"] == {"same_as": "all"} and stored["forecasts"] == "all"
    assert body["forecasts"] == "live" and body["after_cutoff"] is False and "09:00 KST" in body["note"]
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
    assert stats["models_forecasts"] == "live"
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
        ({"forecasts": "late"}, 422),
        ({"after_cutoff": "perhaps"}, 422),
        ({"model": "late", "after_cutoff": "true"}, 404),  # its cutoff is unknown: no row after it
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


def _get(api: Api, headers: dict, **params: object) -> dict:
    answer = api.client.get("/api/v1/evaluations/leaderboard", params={"window": 20, **params}, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _brier(rows: list[dict]) -> float:
    return sum((r["prob_up"] - (r["realized_return"] > 0)) ** 2 for r in rows) / len(rows)


def test_late_forecasts_are_left_out_by_default_and_served_labelled_when_asked(api: Api) -> None:
    payloads = _seed(api.url, plant=True)
    headers = api.headers_for(make_user(api.url, "u@example.com"), "user")
    live, everything = _get(api, headers), _get(api, headers, forecasts="all")
    assert (live["forecasts"], everything["forecasts"]) == ("live", "all")
    assert "late ones included" in everything["note"]
    served = {m["model"]: m for m in live["items"]}
    full = {m["model"]: m for m in everything["items"]}
    # The backfilled model is late on every row: not on the live board, on the full one with every row counted.
    assert set(served) == {"signal", "noise", "late"} and all(m["n_late"] == 0 for m in served.values())
    assert set(full) == {"signal", "noise", "late", "backfilled"}
    assert full["backfilled"]["n"] == full["backfilled"]["n_late"] == BACKFILLED_DAYS * len(CODES)
    # The refresh after the open replaces the 08:00 forecast of the same stock and day on the full board only.
    assert full["signal"]["n_late"] == 1 and full["signal"]["n"] == served["signal"]["n"] == 20 * len(CODES)
    engine = make_engine(api.url)
    with session_scope(engine) as session:
        versions = [r for r in scored_versions(session, DAYS[-20], LAST) if r["model"] == "signal"]
    engine.dispose()
    made_before_open = [r for r in versions if r["as_of"] < datetime.combine(r["target_date"], time(9), tzinfo=KST)]
    latest = {(r["code"], r["target_date"]): r for r in versions}  # oldest cutoff first: the last one stands
    assert len(made_before_open) == len(latest) == 20 * len(CODES) and len(versions) == len(latest) + 1
    assert _close(served["signal"]["brier"], _brier(made_before_open))
    assert _close(full["signal"]["brier"], _brier(list(latest.values())))
    assert not _close(served["signal"]["brier"], full["signal"]["brier"])
    # Stored: the full board at the top, the live board computed apart (its rows differ), and the Markdown says
    # which table is which.
    stored = payloads[20]
    assert stored["forecasts"] == "all" and stored["variants"]["live"]["forecasts"] == "live"
    assert {m["model"] for m in stored["variants"]["live"]["models"]} == set(served)
    assert _get(api, headers, forecasts="all", model="backfilled")["items"][0]["n_late"] == full["backfilled"]["n"]
    missing = api.client.get("/api/v1/evaluations/leaderboard", params={"model": "backfilled"}, headers=headers)
    assert missing.status_code == 404 and "live forecasts" in missing.json()["detail"]


def test_a_snapshot_stored_before_variants_is_served_as_all_forecasts_and_says_so(api: Api) -> None:
    payloads = _seed(api.url)
    engine = make_engine(api.url)
    with session_scope(engine) as session:
        old = {k: v for k, v in payloads[20].items() if k != "variants"}
        session.execute(
            LeaderboardSnapshot.__table__.update().where(LeaderboardSnapshot.window == 20).values(payload=old)
        )
        bump_dataset_version(session, Dataset.LEADERBOARD)
    engine.dispose()
    headers = api.headers_for(make_user(api.url, "u@example.com"), "user")
    body = _get(api, headers)
    assert body["forecasts"] == "all" and "before live and late forecasts were told apart" in body["note"]


def test_the_board_after_the_training_cutoff_drops_earlier_targets(api: Api) -> None:
    _seed(api.url)
    headers = api.headers_for(make_user(api.url, "u@example.com"), "user")
    full, after = _get(api, headers, window=60), _get(api, headers, window=60, after_cutoff="true")
    assert (full["after_cutoff"], after["after_cutoff"]) == (False, True) and "training cutoff" in after["note"]
    engine = make_engine(api.url)
    with session_scope(engine) as session:
        noise = [r for r in scored_rows(session, DAYS[0], LAST) if r["model"] == "noise"]
    engine.dispose()
    unseen = [r for r in noise if r["target_date"] >= date(2026, 10, 1)]  # after a September 2026 cutoff
    assert 0 < len(unseen) < len(noise)
    served = {m["model"]: m for m in after["items"]}
    board = {m["model"]: m for m in full["items"]}
    # "late" has no known cutoff: nothing of it counts; "signal" learns nothing: all of it counts.
    assert set(served) == {"signal", "noise"}
    assert served["noise"]["n"] == len(unseen) and _close(served["noise"]["brier"], _brier(unseen))
    assert board["noise"]["n"] == len(noise) and served["signal"]["n"] == board["signal"]["n"]
    # The full board shows the after-cutoff figures beside its own.
    assert board["noise"]["training_cutoff"] == "2026-09" and board["signal"]["training_cutoff"] is None
    assert board["noise"]["after_cutoff"]["n"] == len(unseen)
    assert _close(board["noise"]["after_cutoff"]["brier"], served["noise"]["brier"])
    assert board["late"]["training_cutoff"] == "unknown" and board["late"]["after_cutoff"]["n"] == 0
    assert board["late"]["after_cutoff"]["reason"]
