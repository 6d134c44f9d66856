"""What the routes answer: lists and cursors, filters, market data, A/B arms, standings, watchlist."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from stock_insights.experiments.assignment import Arm, assign_arm
from stock_insights.storage.datasets import Dataset
from stock_insights.storage.db import bump_dataset_version, make_engine, session_scope
from stock_insights.storage.models import NewsArticle, NewsStockLink, Notification
from stock_insights_tests.api.helpers import BAR_DAYS, CODES, DISCLOSURE_COUNT, NEWS_COUNT, Api, make_user

PROBLEM = "application/problem+json"


def pages(api: Api, path: str, headers: dict[str, str], **params: object) -> list[list[dict]]:
    out, cursor = [], None
    while True:
        answer = api.client.get(path, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        out.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return out


def test_cursor_pagination_is_complete_and_stable(seeded: Api) -> None:
    api = seeded
    headers = api.headers_for(make_user(api.url, "u@example.com"), "user")

    news = pages(api, "/api/v1/news", headers, limit=7)
    ids = [item["id"] for page in news for item in page]
    assert len(ids) == NEWS_COUNT == len(set(ids)) and [len(p) for p in news] == [7, 7, 7, 4]
    keys = [(item["published_at"], item["id"]) for page in news for item in page]
    assert keys == sorted(keys, reverse=True)  # newest first, id breaks ties

    # New articles land while a client pages: the rest of its walk has no duplicate and no gap.
    first = api.client.get("/api/v1/news", params={"limit": 7}, headers=headers).json()
    engine = make_engine(api.url)
    with session_scope(engine) as session:
        newest = datetime.now(UTC)
        for n in range(3):
            article = NewsArticle(
                canonical_url=f"https://news.example/late/{n}",
                title=f"late {n}",
                language="ko",
                published_at=newest,
                first_seen_at=newest,
                content_hash=f"late{n}",
            )
            session.add(article)
            session.flush()
            session.add(NewsStockLink(article_id=article.id, code="005930", evidence={}, confidence=1.0))
        bump_dataset_version(session, Dataset.NEWS)
    engine.dispose()
    rest, cursor = [], first["next_cursor"]
    while cursor:
        body = api.client.get("/api/v1/news", params={"limit": 7, "cursor": cursor}, headers=headers).json()
        rest += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
    assert [i["id"] for i in first["items"]] + rest == ids

    # Filters: by stock (through the links), by source, by time.
    samsung = [i for page in pages(api, "/api/v1/news", headers, code="005930", limit=100) for i in page]
    assert samsung and all("005930" in i["codes"] for i in samsung)
    naver = [i for page in pages(api, "/api/v1/news", headers, source="naver", limit=100) for i in page]
    assert naver and all(any(s["source"] == "naver" for s in i["sources"]) for i in naver)
    since = "2026-10-20T05:00:00+00:00"
    recent = [i for page in pages(api, "/api/v1/news", headers, since=since, limit=100) for i in page]
    assert recent and all(i["published_at"] >= "2026-10-20T05:00:00Z" for i in recent)

    filings = pages(api, "/api/v1/disclosures", headers, limit=10)
    numbers = [d["rcept_no"] for page in filings for d in page]
    assert len(numbers) == DISCLOSURE_COUNT == len(set(numbers))
    assert [(d["receipt_date"], d["rcept_no"]) for p in filings for d in p] == sorted(
        [(d["receipt_date"], d["rcept_no"]) for p in filings for d in p], reverse=True
    )
    mine = [d for page in pages(api, "/api/v1/disclosures", headers, code=CODES[1], since="2026-10-12") for d in page]
    assert mine and all(d["code"] == CODES[1] and d["receipt_date"] >= "2026-10-12" for d in mine)


def test_inputs_are_validated_with_problem_details(seeded: Api) -> None:
    api = seeded
    headers = api.headers_for(make_user(api.url, "u@example.com"), "user")
    bad = [
        "/api/v1/stocks/5930",
        "/api/v1/stocks/005930/prices?start=2026-13-01",
        "/api/v1/stocks/005930/prices?start=2026-10-10&end=2026-10-01",
        "/api/v1/stocks/005930/prices?start=0001-01-01",
        "/api/v1/stocks/005930/prices?interval=5m",
        "/api/v1/stocks/005930/prices?interval=1m&start=2026-10-01",
        "/api/v1/news?limit=0",
        "/api/v1/news?limit=101",
        "/api/v1/news?code=abc",
        "/api/v1/news?cursor=bm90LWEtY3Vyc29y",
        "/api/v1/news?cursor=%00",
        "/api/v1/news?since=yesterday",
        "/api/v1/disclosures?cursor=W10",
        "/api/v1/search?q=",
        "/api/v1/search?q=a%00b",
        "/api/v1/evaluations/leaderboard?window=30",
        "/api/v1/predictions?model=a%20b",
        "/api/v1/notifications/99999999999/read",
    ]
    for path in bad:
        method = "POST" if path.endswith("/read") else "GET"
        answer = api.client.request(method, path, headers=headers)
        assert answer.status_code == 422, (path, answer.status_code, answer.text)
        assert answer.headers["content-type"] == PROBLEM
        body = answer.json()
        assert body["status"] == 422 and body["title"] and "Traceback" not in answer.text
    unknown = api.client.get("/api/v1/stocks/999999", headers=headers)
    assert unknown.status_code == 404 and unknown.json()["detail"] == "stock 999999 is not tracked"
    assert api.client.get("/api/v1/nowhere", headers=headers).headers["content-type"] == PROBLEM
    wrong_method = api.client.patch("/api/v1/stocks", headers=headers)
    assert wrong_method.status_code == 405 and wrong_method.headers["content-type"] == PROBLEM


def test_market_data_routes(seeded: Api) -> None:
    api = seeded
    headers = api.headers_for(make_user(api.url, "u@example.com"), "user")
    prices = api.client.get(
        "/api/v1/stocks/005930/prices", params={"start": "2026-10-01", "end": "2026-10-31"}, headers=headers
    ).json()
    assert [p["trading_date"] for p in prices["items"]] == [d.isoformat() for d in BAR_DAYS]
    assert prices["interval"] == "1d" and prices["data_mode"] == "simulated"

    minutes = api.client.get("/api/v1/stocks/005930/prices", params={"interval": "1m"}, headers=headers).json()
    assert minutes["interval"] == "1m" and [m["close"] for m in minutes["items"]] == [100, 101, 102]
    day = api.client.get(
        "/api/v1/stocks/005930/prices", params={"interval": "1m", "date": BAR_DAYS[0].isoformat()}, headers=headers
    ).json()
    assert day["items"] == []

    book = api.client.get("/api/v1/stocks/005930/orderbook", headers=headers).json()
    assert book["asks"][0] == {"price": 101.0, "quantity": 10} and book["bids"][1] == {"price": 99.0, "quantity": 40}
    assert api.client.get("/api/v1/stocks/000660/orderbook", headers=headers).status_code == 404

    statements = api.client.get("/api/v1/stocks/005930/financials", params={"source": "dart"}, headers=headers).json()
    assert [i["period"] for i in statements["items"]] == ["202609", "202606"]

    report = api.client.get(f"/api/v1/reports/daily/{BAR_DAYS[-1].isoformat()}", headers=headers).json()
    assert report["market"]["markdown"].startswith("# Market") and report["stocks"] == []
    assert api.client.get("/api/v1/reports/daily/2026-01-02", headers=headers).status_code == 404

    found = api.client.get("/api/v1/search", params={"q": "자사주", "limit": 50}, headers=headers).json()
    assert found["mode"] == "lexical-fallback" and found["items"]
    assert all("자사주" in hit["title"] for hit in found["items"])
    wildcard = api.client.get("/api/v1/search", params={"q": "%"}, headers=headers).json()
    assert wildcard["items"] == []  # LIKE wildcards are escaped: a literal percent sign matches nothing
    before = api.client.get(
        "/api/v1/search", params={"q": "주요사항", "before": "2026-10-20T00:00:00Z", "limit": 50}, headers=headers
    ).json()
    assert before["items"] and all(h["first_seen_at"] < "2026-10-20T00:00:00Z" for h in before["items"])


def test_dashboard_and_leaderboard(seeded: Api) -> None:
    api = seeded
    headers = api.headers_for(make_user(api.url, "u@example.com"), "user")
    stats = api.client.get("/api/v1/dashboard/stats", headers=headers).json()
    assert stats["counts"]["stocks"] == len(CODES) and stats["counts"]["news_articles"] == NEWS_COUNT
    assert "users" not in stats["counts"]
    fresh = {f["table"]: f["newest"] for f in stats["freshness"]}
    assert fresh["daily_bars"] is not None and fresh["news_articles"] == "2026-10-20T09:01:00Z"
    assert fresh["index_bars"] is None
    movers = stats["movers"]
    assert movers["trading_date"] == BAR_DAYS[-1].isoformat() and movers["previous_date"] == BAR_DAYS[-2].isoformat()
    assert {m["code"] for m in movers["gainers"]} == {"000660", "035420"}  # the seeded walk: even codes rise
    assert [m["code"] for m in movers["losers"]] == ["005930"]
    assert stats["dataset_versions"]["daily_bars"] >= 1

    # The scorecard is the evaluations/leaderboard asset's snapshot (test_leaderboard_route.py); none was
    # computed from this seed, and both answers say so rather than averaging raw rows.
    board = api.client.get("/api/v1/evaluations/leaderboard", params={"window": 20}, headers=headers).json()
    assert board["items"] == [] and board["as_of_date"] is None and board["horizon"] == 1
    assert stats["models"] == []


def test_ab_arm_assignment_and_experiments(seeded: Api) -> None:
    api = seeded
    admin = api.headers_for(make_user(api.url, "admin@example.com", "admin"), "admin")
    users = {uid: api.headers_for(uid, "user") for uid in (make_user(api.url, f"u{n}@example.com") for n in range(6))}

    # No experiment: every model.
    answer = api.client.get("/api/v1/predictions", params={"code": "005930"}, headers=next(iter(users.values())))
    assert answer.json()["assignment"] is None and {p["model"] for p in answer.json()["items"]} == {"momentum", "llm"}

    arms = [{"name": "control", "model": "momentum", "weight": 3}, {"name": "treatment", "model": "llm", "weight": 1}]
    created = api.client.post("/api/v1/experiments", json={"name": "llm-vs-momentum", "arms": arms}, headers=admin)
    assert created.status_code == 201
    experiment_id = created.json()["id"]
    second = api.client.post("/api/v1/experiments", json={"name": "other", "arms": arms}, headers=admin)
    assert second.status_code == 409  # one running experiment at a time

    for user_id, headers in users.items():
        body = api.client.get("/api/v1/predictions", params={"code": "005930"}, headers=headers).json()
        expected = assign_arm(user_id, experiment_id, [Arm(a["name"], a["model"], a["weight"]) for a in arms])
        assert body["assignment"]["arm"] == expected.name
        assert {p["model"] for p in body["items"]} == {expected.model}
        # Deterministic: the same user gets the same arm on every request.
        again = api.client.get("/api/v1/predictions", params={"code": "005930"}, headers=headers).json()
        assert again["assignment"] == body["assignment"]
        # Asking for a model overrides the arm.
        chosen = api.client.get("/api/v1/predictions", params={"model": "llm"}, headers=headers).json()
        assert chosen["assignment"] is None and {p["model"] for p in chosen["items"]} == {"llm"}

    results = api.client.get(f"/api/v1/experiments/{experiment_id}/results", headers=admin).json()
    assert results["significance"] is None and {a["arm"] for a in results["arms"]} == {"control", "treatment"}
    assert "leaderboard" in results["note"]

    stopped = api.client.post(f"/api/v1/experiments/{experiment_id}/stop", headers=admin).json()
    assert stopped["status"] == "stopped" and stopped["stopped_at"]
    headers = next(iter(users.values()))
    after = api.client.get("/api/v1/predictions", params={"code": "005930"}, headers=headers).json()
    assert after["assignment"] is None  # the experiments version bump reached the cached arm lookup
    assert api.client.get("/api/v1/experiments/999/results", headers=admin).status_code == 404


def test_assignment_is_deterministic_and_follows_the_weights() -> None:
    arms = [Arm("b", "llm", 1.0), Arm("a", "momentum", 3.0), Arm("off", "x", 0.0)]
    picks = Counter(assign_arm(user, 7, arms).name for user in range(20_000))
    assert set(picks) == {"a", "b"}  # a zero weight is never chosen
    assert abs(picks["a"] / 20_000 - 0.75) < 0.02
    assert assign_arm(42, 7, arms) == assign_arm(42, 7, list(reversed(arms)))  # order of arms does not matter
    other = Counter(assign_arm(user, 8, arms).name == assign_arm(user, 7, arms).name for user in range(2000))
    assert 0.5 < other[True] / 2000 < 0.75  # experiments hash independently (0.625 if independent)
    for bad in ([], [Arm("a", "m", 0.0)], [Arm("a", "m", float("nan"))]):
        try:
            assign_arm(1, 1, bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad} was accepted")


def test_watchlist_webhook_notifications_and_roles(seeded: Api) -> None:
    api = seeded
    user_id = make_user(api.url, "u@example.com")
    headers = api.headers_for(user_id, "user")
    other = api.headers_for(make_user(api.url, "o@example.com"), "user")

    empty = {"items": [], "data_mode": "simulated"}
    assert api.client.get("/api/v1/users/me/watchlist", headers=headers).json() == empty
    for code in ("035420", "005930", "005930"):  # PUT is idempotent
        assert api.client.put(f"/api/v1/users/me/watchlist/{code}", headers=headers).status_code == 200
    items = api.client.get("/api/v1/users/me/watchlist", headers=headers).json()["items"]
    assert [i["code"] for i in items] == ["035420", "005930"] and items[1]["name"] == "삼성전자"
    assert api.client.put("/api/v1/users/me/watchlist/999999", headers=headers).status_code == 404
    assert api.client.get("/api/v1/users/me/watchlist", headers=other).json()["items"] == []
    assert api.client.delete("/api/v1/users/me/watchlist/035420", headers=headers).status_code == 204
    assert api.client.delete("/api/v1/users/me/watchlist/035420", headers=headers).status_code == 404
    assert [i["code"] for i in api.client.get("/api/v1/users/me/watchlist", headers=headers).json()["items"]] == [
        "005930"
    ]

    hook = api.client.put("/api/v1/users/me/webhook", json={"url": "https://hooks.example/abc"}, headers=headers)
    assert hook.json()["webhook_url"] == "https://hooks.example/abc"
    assert api.client.put("/api/v1/users/me/webhook", json={"url": "ftp://x"}, headers=headers).status_code == 422
    assert api.client.put("/api/v1/users/me/webhook", json={"url": None}, headers=headers).json()["webhook_url"] is None

    engine = make_engine(api.url)
    with session_scope(engine) as session:
        base = datetime(2026, 10, 20, tzinfo=UTC)
        session.add_all(
            Notification(
                user_id=user_id,
                event_key=f"e{n}",
                kind="move",
                code="005930",
                title=f"n{n}",
                body="",
                created_at=base + timedelta(minutes=n // 2),
            )
            for n in range(5)
        )
    engine.dispose()
    walk = pages(api, "/api/v1/notifications", headers, limit=2)
    ids = [n["id"] for page in walk for n in page]
    assert (
        len(ids) == 5 == len(set(ids)) and api.client.get("/api/v1/notifications", headers=other).json()["items"] == []
    )
    read = api.client.post(f"/api/v1/notifications/{ids[0]}/read", headers=headers)
    assert read.status_code == 200 and read.json()["read_at"]
    assert api.client.post(f"/api/v1/notifications/{ids[0]}/read", headers=other).status_code == 404
    unread = api.client.get("/api/v1/notifications", params={"unread": True}, headers=headers).json()["items"]
    assert ids[0] not in [n["id"] for n in unread] and len(unread) == 4

    admin_id = make_user(api.url, "admin@example.com", "admin")
    admin = api.headers_for(admin_id, "admin")
    promoted = api.client.put(f"/api/v1/users/{user_id}/role", json={"role": "analyst"}, headers=admin)
    assert promoted.json()["role"] == "analyst"
    headers = api.headers_for(user_id, "analyst")  # the role change revoked the user's earlier tokens
    assert api.client.put(f"/api/v1/users/{admin_id}/role", json={"role": "user"}, headers=admin).status_code == 409
    listed = pages(api, "/api/v1/users", admin, limit=2)
    assert sum(len(p) for p in listed) == 3

    added = api.client.post("/api/v1/stocks", json={"code": "373220"}, headers=admin)
    assert added.status_code == 201 and added.json()["name"] == "LG에너지솔루션"
    unknown = api.client.post("/api/v1/stocks", json={"code": "123456"}, headers=admin)
    assert unknown.status_code == 422
    custom = {"code": "123456", "name": "테스트", "market": "KOSDAQ"}
    assert api.client.post("/api/v1/stocks", json=custom, headers=admin).json()["aliases"] == ["테스트"]
    codes = [s["code"] for s in api.client.get("/api/v1/stocks", headers=headers).json()["items"]]
    assert "373220" in codes and "123456" in codes
    assert api.client.delete("/api/v1/stocks/373220", headers=admin).json()["active"] is False
    codes = [s["code"] for s in api.client.get("/api/v1/stocks", headers=headers).json()["items"]]
    assert "373220" not in codes
    everything = api.client.get("/api/v1/stocks", params={"include_inactive": True}, headers=headers).json()
    assert "373220" in [s["code"] for s in everything["items"]]
