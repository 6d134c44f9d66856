"""Personal API keys through REST: create (shown once), list (never the key), revoke; stored hashed; limited."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from api.core.config import LOGIN_MAX_FAILURES_PER_ADDRESS
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import ApiKey
from stock_insights_tests.mcp.conftest import Site


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def test_create_list_use_and_revoke_a_key(site: Site) -> None:
    token = site.login("user@example.com")
    created = site.create_key(token, "claude-desktop")
    key = created["key"]
    assert key.startswith("sik_") and len(key) == 47 and created["prefix"] == key[:12]
    assert created["name"] == "claude-desktop" and created["last_used_at"] is None

    listed = site.rest.get("/api/v1/users/me/api-keys", headers=bearer(token)).json()["items"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0] and key not in str(listed)  # the key is shown once, at creation

    engine = make_engine(site.database_url)
    with session_scope(engine) as session:
        row = session.scalars(select(ApiKey)).one()
        assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()  # only the hash is stored
        assert key not in (row.key_hash, row.prefix, row.name)

    assert site.rest.get("/api/v1/stocks", headers=bearer(key)).status_code == 200  # the key works on REST too
    listed = site.rest.get("/api/v1/users/me/api-keys", headers=bearer(token)).json()["items"]
    assert listed[0]["last_used_at"] is not None

    # A key cannot mint or revoke keys: a leaked key cannot make itself permanent.
    assert site.rest.post("/api/v1/users/me/api-keys", json={"name": "x"}, headers=bearer(key)).status_code == 403
    assert site.rest.delete(f"/api/v1/users/me/api-keys/{created['id']}", headers=bearer(key)).status_code == 403

    # Another account cannot see or revoke it.
    other = site.login("analyst@example.com")
    assert site.rest.get("/api/v1/users/me/api-keys", headers=bearer(other)).json()["items"] == []
    assert site.revoke_key(other, created["id"]).status_code == 404

    assert site.revoke_key(token, created["id"]).status_code == 204
    assert site.revoke_key(token, created["id"]).status_code == 204  # idempotent
    assert site.rest.get("/api/v1/users/me/api-keys", headers=bearer(token)).json()["items"] == []
    refused = site.rest.get("/api/v1/stocks", headers=bearer(key))
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    with session_scope(engine) as session:
        assert session.scalars(select(ApiKey)).one().revoked_at is not None  # kept, marked revoked
    engine.dispose()


def test_bad_key_names_are_refused(site: Site) -> None:
    token = site.login("user@example.com")
    for body in ({"name": ""}, {"name": "a" * 101}, {"name": "tab\there"}, {}, {"name": "x", "extra": 1}):
        answer = site.rest.post("/api/v1/users/me/api-keys", json=body, headers=bearer(token))
        assert answer.status_code == 422, body
        assert answer.headers["content-type"] == "application/problem+json"


def test_failed_key_attempts_count_against_the_login_limit(site: Site) -> None:
    key = site.create_key(site.login("user@example.com"))["key"]
    for n in range(LOGIN_MAX_FAILURES_PER_ADDRESS):
        assert site.rest.post("/mcp", json={}, headers=bearer(f"sik_wrong{n}")).status_code == 401
    limited = site.rest.post("/mcp", json={}, headers=bearer("sik_wrong-again"))
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    # While the address is over the limit, even the right key is not tried (REST and MCP alike).
    assert site.rest.get("/api/v1/stocks", headers=bearer(key)).status_code == 429
    # ... and password logins from it are limited too: one limit per address.
    answer = site.rest.post("/api/v1/auth/token", data={"username": "user@example.com", "password": "wrong"})
    assert answer.status_code == 429
