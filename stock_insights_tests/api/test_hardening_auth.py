"""Hardening of accounts (issue "Hardening", defects 2 and 7): a forged X-Forwarded-For does not escape the
per-address login limit, and revocation (logout-all, a role or password change) takes effect at once, on
every path (the cached answers' fast path included) and in every process, not when the token expires."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.cli import create_admin, uvicorn_config
from api.core.config import LOGIN_MAX_FAILURES_PER_ADDRESS
from stock_insights.settings import reset_settings_cache
from stock_insights_tests.api.helpers import PASSWORD, Api, make_user, set_api_env
from stock_insights_tests.conftest import free_port

PROBLEM = "application/problem+json"


@contextmanager
def served(app: object) -> Iterator[str]:
    """The API over real HTTP on loopback, configured as ``python -m api.cli serve`` configures uvicorn."""
    server = uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _wrong_logins(base_url: str, count: int, forwarded_for: list[str] | None) -> list[int]:
    statuses = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for n in range(count):
            headers = {"X-Forwarded-For": forwarded_for[n % len(forwarded_for)]} if forwarded_for else {}
            # A new account each time: the per-account limit never trips, only the per-address one can.
            form = {"username": f"nobody{n}@example.com", "password": "wrong-password", "grant_type": "password"}
            statuses.append(client.post("/api/v1/auth/token", data=form, headers=headers).status_code)
    return statuses


def test_a_forged_forwarded_for_does_not_escape_the_address_limit(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    from api.main import create_app

    set_api_env(monkeypatch, database_url)
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)  # the default: no proxy is trusted
    reset_settings_cache()
    limit = LOGIN_MAX_FAILURES_PER_ADDRESS
    with served(create_app()) as url:
        rotated = [f"203.0.113.{n}" for n in range(1, 200)]
        statuses = _wrong_logins(url, limit + 5, rotated)
    assert statuses[:limit] == [401] * limit
    assert statuses[limit:] == [429] * 5


def test_a_configured_proxy_is_trusted_and_the_limit_counts_the_client_it_names(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    from api.main import create_app

    set_api_env(monkeypatch, database_url)
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "127.0.0.1")  # the test client stands in for the proxy
    reset_settings_cache()
    limit = LOGIN_MAX_FAILURES_PER_ADDRESS
    with served(create_app()) as url:
        # Clients the proxy names apart are counted apart ...
        assert _wrong_logins(url, limit + 5, [f"198.51.100.{n}" for n in range(1, 200)]) == [401] * (limit + 5)
        # ... and one client, whatever port or connection, is limited.
        same = _wrong_logins(url, limit + 2, ["192.0.2.7"])
    assert same[:limit] == [401] * limit and same[limit:] == [429, 429]


def _login(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    answer = client.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_a_demoted_analyst_loses_experiments_at_once_fast_path_included(seeded: Api) -> None:
    api, client = seeded, seeded.client
    analyst_id = make_user(api.url, "analyst@example.com", "analyst")
    admin = _bearer(_login(client, make_admin(api)))
    analyst = _login(client, "analyst@example.com")
    for _ in range(3):  # the second and third are served by the fast path
        assert client.get("/api/v1/experiments", headers=_bearer(analyst)).status_code == 200
    hits = api.state.fastpath.hits
    assert hits >= 1

    demoted = client.put(f"/api/v1/users/{analyst_id}/role", json={"role": "user"}, headers=admin)
    assert demoted.status_code == 200 and demoted.json()["role"] == "user"

    refused = client.get("/api/v1/experiments", headers=_bearer(analyst))
    assert refused.status_code == 401 and refused.headers["content-type"] == PROBLEM
    assert "revoked" in refused.json()["detail"]
    assert api.state.fastpath.hits == hits  # the fast path stepped aside
    assert client.get("/api/v1/users/me", headers=_bearer(analyst)).status_code == 401
    # The refresh token still works and gives the new role, which may not read experiments.
    renewed = client.post("/api/v1/auth/refresh", json={"refresh_token": analyst["refresh_token"]})
    assert renewed.status_code == 200, renewed.text
    assert client.get("/api/v1/experiments", headers=_bearer(renewed.json())).status_code == 403
    assert client.get("/api/v1/users/me", headers=_bearer(renewed.json())).json()["role"] == "user"


def make_admin(api: Api) -> str:
    make_user(api.url, "admin@example.com", "admin")
    return "admin@example.com"


def test_logout_all_revokes_access_tokens_at_once(seeded: Api) -> None:
    api, client = seeded, seeded.client
    make_user(api.url, "user@example.com")
    phone, laptop = _login(client, "user@example.com"), _login(client, "user@example.com")
    for tokens in (phone, laptop):
        for _ in range(2):
            assert client.get("/api/v1/news", headers=_bearer(tokens)).status_code == 200
    assert client.post("/api/v1/auth/logout-all", headers=_bearer(phone)).status_code == 204
    for tokens in (phone, laptop):
        for path in ("/api/v1/news", "/api/v1/users/me", "/api/v1/stocks"):
            answer = client.get(path, headers=_bearer(tokens))
            assert answer.status_code == 401, (path, answer.text)
            assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
    fresh = _login(client, "user@example.com")
    assert client.get("/api/v1/news", headers=_bearer(fresh)).status_code == 200


def test_a_password_reset_revokes_access_tokens(seeded: Api) -> None:
    api, client = seeded, seeded.client
    make_user(api.url, "boss@example.com", "admin")
    tokens = _login(client, "boss@example.com")
    assert client.get("/api/v1/users", headers=_bearer(tokens)).status_code == 200
    create_admin("boss@example.com", "another-long-password", api.url)  # the CLI's password reset
    assert client.get("/api/v1/users", headers=_bearer(tokens)).status_code == 401
    again = _login(client, "boss@example.com", "another-long-password")
    assert client.get("/api/v1/users", headers=_bearer(again)).status_code == 200


def test_revocation_reaches_every_process_and_costs_no_query_per_request(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    from api.main import create_app

    set_api_env(monkeypatch, database_url)
    with TestClient(create_app()) as one, TestClient(create_app()) as two:
        make_user(database_url, "user@example.com")
        tokens = _login(one, "user@example.com")
        for client in (one, two):
            for _ in range(5):
                assert client.get("/api/v1/users/me", headers=_bearer(tokens)).status_code == 200
        generations = two.app.state.api.generations  # type: ignore[attr-defined]
        assert generations.reads == 1  # looked up once, then kept while the version stands
        assert one.post("/api/v1/auth/logout-all", headers=_bearer(tokens)).status_code == 204
        assert two.get("/api/v1/users/me", headers=_bearer(tokens)).status_code == 401  # the other worker
        assert generations.reads == 2


def test_admins_see_webhook_urls_masked(seeded: Api) -> None:
    api, client = seeded, seeded.client
    secret = "https://hooks.slack.com/services/T0001/B0001/s3cr3tW3bh00kT0k3n"
    user_id = make_user(api.url, "hooked@example.com")
    user = api.headers_for(user_id, "user")
    assert client.put("/api/v1/users/me/webhook", json={"url": secret}, headers=user).json()["webhook_url"] == secret
    admin_id = make_user(api.url, "admin@example.com", "admin")
    admin = api.headers_for(admin_id, "admin")
    listed = client.get("/api/v1/users", headers=admin)
    assert listed.status_code == 200 and "s3cr3t" not in listed.text and "T0001" not in listed.text
    shown = {u["email"]: u["webhook_url"] for u in listed.json()["items"]}
    assert shown["hooked@example.com"] == "https://hooks.slack.com/…"
    promoted = client.put(f"/api/v1/users/{user_id}/role", json={"role": "analyst"}, headers=admin)
    assert "s3cr3t" not in promoted.text
    # The owner still sees their own URL in full.
    own = client.get("/api/v1/users/me", headers=api.headers_for(user_id, "analyst")).json()
    assert own["webhook_url"] == secret
