"""Keyset pagination of the list routes that got a cursor for market scale (issue 15): stocks and predictions.

Every walk must return each row exactly once, in the order of the unpaged answer, and a bad cursor is a 422.
"""

from __future__ import annotations

from stock_insights_tests.api.helpers import Api, make_user
from stock_insights_tests.api.test_routes import pages


def test_stocks_pages_cover_the_universe_once_in_code_order(seeded: Api) -> None:
    api = seeded
    headers = api.headers_for(make_user(api.url, "pager@example.com"), "user")
    whole = api.client.get("/api/v1/stocks", headers=headers).json()
    assert whole["next_cursor"] is None and len(whole["items"]) >= 2
    walked = pages(api, "/api/v1/stocks", headers, limit=1)
    assert [len(p) for p in walked] == [1] * len(whole["items"])
    assert [s for page in walked for s in page] == whole["items"]
    codes = [s["code"] for page in walked for s in page]
    assert codes == sorted(codes)
    assert api.client.get("/api/v1/stocks", params={"limit": 501}, headers=headers).status_code == 422
    assert api.client.get("/api/v1/stocks", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=headers).status_code == 422


def test_predictions_pages_equal_the_unpaged_list(seeded: Api) -> None:
    api = seeded
    headers = api.headers_for(make_user(api.url, "pager2@example.com"), "user")
    for params in ({}, {"code": "005930"}, {"model": "momentum"}):
        whole = api.client.get("/api/v1/predictions", params={**params, "limit": 500}, headers=headers).json()
        assert whole["next_cursor"] is None and len(whole["items"]) >= 3, params
        for size in (1, 2, 3):
            walked = pages(api, "/api/v1/predictions", headers, **params, limit=size)
            items = [p for page in walked for p in page]
            assert [p["id"] for p in items] == [p["id"] for p in whole["items"]], (params, size)
            assert all(len(page) == size for page in walked[:-1])
    keys = [(p["target_date"], p["code"], p["model"]) for p in whole["items"]]
    days = [k[0] for k in keys]
    assert days == sorted(days, reverse=True)
    bad = api.client.get("/api/v1/predictions", params={"cursor": "WyJ4Il0"}, headers=headers)
    assert bad.status_code == 422
