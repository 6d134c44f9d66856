"""The authorization matrix: every route of the OpenAPI schema, called as anonymous, user, analyst, admin."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stock_insights.ledger import seal_day
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import ApiKey, Notification
from stock_insights_tests.api.helpers import BAR_DAYS, PASSWORD, Api, make_user

PRINCIPALS = ("anonymous", "user", "analyst", "admin")
RANK = {"public": -1, "user": 1, "analyst": 2, "admin": 3}


@dataclass
class Call:
    method: str
    template: str  # the OpenAPI path, to check that the matrix covers every operation
    needs: str  # public | user | analyst | admin
    ok: int  # the status when allowed
    path: str | Callable[[str], str] | None = None
    json: Callable[[str], Any] | None = None
    data: Callable[[str], Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def expected(call: Call, principal: str) -> int:
    if call.needs == "public":
        return call.ok
    if principal == "anonymous":
        return 401
    return call.ok if RANK[principal] >= RANK[call.needs] else 403


def test_every_route_for_every_role(seeded: Api) -> None:
    api = seeded
    ids = {
        role: make_user(api.url, f"{role}@example.com", role if role != "anonymous" else "user")
        for role in ("user", "analyst", "admin")
    }
    headers = {"anonymous": {}} | {role: api.headers_for(uid, role) for role, uid in ids.items()}
    engine = make_engine(api.url)
    with session_scope(engine) as session:
        notes = {
            role: Notification(
                user_id=uid,
                event_key=f"e-{role}",
                kind="disclosure",
                code="005930",
                title="t",
                body="b",
                created_at=datetime.now(UTC),
            )
            for role, uid in ids.items()
        }
        session.add_all(notes.values())
        session.flush()
        note_ids = {role: n.id for role, n in notes.items()} | {"anonymous": 1}
        keys = {
            role: ApiKey(user_id=uid, name=role, prefix=f"sik_{role[:8]}", key_hash=f"{uid:064d}",
                         created_at=datetime.now(UTC))
            for role, uid in ids.items()
        }  # fmt: skip
        session.add_all(keys.values())
        session.flush()
        key_ids = {role: k.id for role, k in keys.items()} | {"anonymous": 1}
        seal_day(session, BAR_DAYS[-1])  # the ledger routes need a sealed day
    engine.dispose()
    # Refresh tokens rotate (a spent one is refused): one per principal, from real logins.
    refresh = {
        p: api.client.post("/api/v1/auth/token", data={"username": "user@example.com", "password": PASSWORD}).json()[
            "refresh_token"
        ]
        for p in PRINCIPALS
    }
    day = BAR_DAYS[-1].isoformat()

    calls = [
        Call("GET", "/health", "public", 200),
        Call("GET", "/health/ready", "public", 200),
        Call("POST", "/api/v1/auth/register", "public", 201,
             json=lambda p: {"email": f"new-{p}@x.io", "password": PASSWORD}),
        Call("POST", "/api/v1/auth/token", "public", 200,
             data=lambda p: {"username": "user@example.com", "password": PASSWORD}),
        Call("POST", "/api/v1/auth/refresh", "public", 200, json=lambda p: {"refresh_token": refresh[p]}),
        Call("GET", "/api/v1/users/me", "user", 200),
        Call("GET", "/api/v1/users/me/watchlist", "user", 200),
        Call("PUT", "/api/v1/users/me/watchlist/{code}", "user", 200, path="/api/v1/users/me/watchlist/005930"),
        Call("DELETE", "/api/v1/users/me/watchlist/{code}", "user", 204, path="/api/v1/users/me/watchlist/005930"),
        Call("PUT", "/api/v1/users/me/webhook", "user", 200, json=lambda p: {"url": "https://hooks.example/x"}),
        Call("GET", "/api/v1/users", "admin", 200),
        Call("PUT", "/api/v1/users/{user_id}/role", "admin", 200, path=f"/api/v1/users/{ids['user']}/role",
             json=lambda p: {"role": "user"}),
        Call("GET", "/api/v1/stocks", "user", 200),
        Call("GET", "/api/v1/stocks/{code}", "user", 200, path="/api/v1/stocks/005930"),
        Call("POST", "/api/v1/stocks", "admin", 201, json=lambda p: {"code": "005380"}),
        Call("DELETE", "/api/v1/stocks/{code}", "admin", 200, path="/api/v1/stocks/035420"),
        Call("GET", "/api/v1/stocks/{code}/prices", "user", 200,
             path="/api/v1/stocks/005930/prices?start=2026-10-01&end=2026-10-12"),
        Call("GET", "/api/v1/stocks/{code}/orderbook", "user", 200, path="/api/v1/stocks/005930/orderbook"),
        Call("GET", "/api/v1/stocks/{code}/financials", "user", 200, path="/api/v1/stocks/005930/financials"),
        Call("GET", "/api/v1/news", "user", 200),
        Call("GET", "/api/v1/disclosures", "user", 200),
        Call("GET", "/api/v1/search", "user", 200, path="/api/v1/search?q=삼성"),
        Call("GET", "/api/v1/predictions", "user", 200),
        Call("POST", "/api/v1/experiments", "admin", 201, json=lambda p: {
            "name": "ab",
            "arms": [{"name": "a", "model": "momentum", "weight": 1}, {"name": "b", "model": "llm", "weight": 1}],
        }),
        Call("GET", "/api/v1/experiments", "analyst", 200),
        Call("GET", "/api/v1/experiments/{experiment_id}/results", "analyst", 200,
             path="/api/v1/experiments/1/results"),
        Call("POST", "/api/v1/experiments/{experiment_id}/stop", "admin", 200, path="/api/v1/experiments/1/stop"),
        Call("GET", "/api/v1/evaluations/leaderboard", "user", 200, path="/api/v1/evaluations/leaderboard?window=60"),
        Call("GET", "/api/v1/dashboard/stats", "user", 200),
        Call("GET", "/api/v1/reports/daily/{date}", "user", 200, path=f"/api/v1/reports/daily/{day}"),
        Call("GET", "/api/v1/ledger/{date}", "user", 200, path=f"/api/v1/ledger/{day}"),
        Call("GET", "/api/v1/ledger/{date}/canonical", "user", 200, path=f"/api/v1/ledger/{day}/canonical"),
        Call("GET", "/api/v1/notifications", "user", 200),
        Call("POST", "/api/v1/notifications/{notification_id}/read", "user", 200,
             path=lambda p: f"/api/v1/notifications/{note_ids[p]}/read"),
        Call("POST", "/api/v1/auth/logout", "public", 204, json=lambda p: {"refresh_token": refresh[p]}),
        Call("POST", "/api/v1/users/me/api-keys", "user", 201, json=lambda p: {"name": f"key-{p}"}),
        Call("GET", "/api/v1/users/me/api-keys", "user", 200),
        Call("DELETE", "/api/v1/users/me/api-keys/{key_id}", "user", 204,
             path=lambda p: f"/api/v1/users/me/api-keys/{key_ids[p]}"),
        Call("POST", "/api/v1/auth/logout-all", "user", 204),
    ]  # fmt: skip

    schema_ops = {
        (method.upper(), path)
        for path, ops in api.client.app.openapi()["paths"].items()
        for method in ops  # type: ignore[attr-defined]
    }
    assert {(c.method, c.template) for c in calls} == schema_ops, "every route needs a row in the matrix"

    table: dict[tuple[str, str], dict[str, int]] = {}
    failures = []
    for call in calls:
        for principal in PRINCIPALS:
            path = call.path(principal) if callable(call.path) else (call.path or call.template)
            answer = api.client.request(
                call.method,
                path,
                headers=headers[principal],
                json=call.json(principal) if call.json else None,
                data=call.data(principal) if call.data else None,
            )
            table.setdefault((call.method, call.template), {})[principal] = answer.status_code
            if answer.status_code != expected(call, principal):
                failures.append(f"{call.method} {path} as {principal}: {answer.status_code} {answer.text[:200]}")
            if answer.status_code >= 400:
                assert answer.headers["content-type"] == "application/problem+json", path
            if answer.status_code == 401:
                assert answer.headers["www-authenticate"].startswith("Bearer")
    assert not failures, "\n".join(failures)
