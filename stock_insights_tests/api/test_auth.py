"""Accounts: register, token, refresh, wrong password, lockout, the admin bootstrap command."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import select, update

from api.cli import create_admin
from api.core.security import hash_password_sync
from stock_insights.settings import PROJECT_ROOT
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import RefreshToken, User
from stock_insights_tests.api.helpers import PASSWORD, Api, make_user

PROBLEM = "application/problem+json"


def login(api: Api, email: str, password: str, address_headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return api.client.post(
        "/api/v1/auth/token",
        data={"username": email, "password": password, "grant_type": "password"},
        headers=address_headers or {},
    )


def test_register_login_refresh_and_use_the_token(api: Api) -> None:
    first = api.client.post("/api/v1/auth/register", json={"email": " First@Example.com ", "password": PASSWORD})
    assert first.status_code == 201, first.text
    # The first account is a plain user: admins are made with the CLI.
    assert first.json()["role"] == "user" and first.json()["email"] == "first@example.com"
    assert "password" not in first.text and "hash" not in first.text

    again = api.client.post("/api/v1/auth/register", json={"email": "first@example.com", "password": PASSWORD})
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM

    short = api.client.post("/api/v1/auth/register", json={"email": "x@example.com", "password": "Zq9#w"})
    assert short.status_code == 422 and short.headers["content-type"] == PROBLEM
    assert "Zq9#w" not in short.text  # the rejected password is not echoed

    tokens = login(api, "FIRST@example.com", PASSWORD)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    assert tokens.headers["cache-control"] == "no-store"

    me = api.client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["email"] == "first@example.com"

    # A refresh token is not an access token, and vice versa.
    wrong_kind = api.client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {body['refresh_token']}"})
    assert wrong_kind.status_code == 401 and wrong_kind.headers["www-authenticate"].startswith("Bearer")
    assert api.client.post("/api/v1/auth/refresh", json={"refresh_token": body["access_token"]}).status_code == 401

    refreshed = api.client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 200
    new_access, new_refresh = refreshed.json()["access_token"], refreshed.json()["refresh_token"]
    assert new_refresh != body["refresh_token"]
    assert api.client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {new_access}"}).status_code == 200

    # A role change shows in the next refresh; a password change revokes earlier refresh tokens.
    engine = make_engine(api.url)
    with session_scope(engine) as session:
        session.execute(update(User).where(User.email == "first@example.com").values(role="analyst"))
    promoted = api.client.post("/api/v1/auth/refresh", json={"refresh_token": new_refresh})
    assert api.state.tokens.principal(promoted.json()["access_token"]).role == "analyst"
    with session_scope(engine) as session:
        session.execute(
            update(User).where(User.email == "first@example.com").values(password_hash=hash_password_sync("new-pass-1"))
        )
    engine.dispose()
    revoked = api.client.post("/api/v1/auth/refresh", json={"refresh_token": promoted.json()["refresh_token"]})
    assert revoked.status_code == 401 and revoked.headers["content-type"] == PROBLEM

    garbage = api.client.get("/api/v1/stocks", headers={"Authorization": "Bearer not.a.token"})
    assert garbage.status_code == 401 and garbage.json()["status"] == 401


def _refresh(api: Api, token: str):  # type: ignore[no-untyped-def]
    return api.client.post("/api/v1/auth/refresh", json={"refresh_token": token})


def test_refresh_tokens_rotate_and_a_replay_revokes_the_session(api: Api) -> None:
    make_user(api.url, "rotate@example.com", "user")
    first = login(api, "rotate@example.com", PASSWORD).json()["refresh_token"]
    other_session = login(api, "rotate@example.com", PASSWORD).json()["refresh_token"]

    second = _refresh(api, first)
    assert second.status_code == 200
    third = _refresh(api, second.json()["refresh_token"])
    assert third.status_code == 200

    # The spent first token comes back (a stolen copy): refused, and its whole session is revoked,
    # including the newest token rotated from it ...
    replay = _refresh(api, first)
    assert replay.status_code == 401 and replay.headers["content-type"] == PROBLEM
    assert "already used" in replay.json()["detail"]
    assert _refresh(api, third.json()["refresh_token"]).status_code == 401
    # ... but not the user's other session.
    assert _refresh(api, other_session).status_code == 200

    engine = make_engine(api.url)
    with session_scope(engine) as session:
        rows = session.execute(select(RefreshToken).order_by(RefreshToken.issued_at)).scalars().all()
        families = {r.family for r in rows}
        assert len(families) == 2 and len(rows) == 5  # 3 in the replayed session, 2 in the other
        assert all(r.revoked_at is not None for r in rows if r.family == rows[0].family)
    engine.dispose()
    # The token's text is never stored, only its id.
    assert first not in repr(rows)


def test_logout_and_logout_everywhere(api: Api) -> None:
    uid = make_user(api.url, "leave@example.com", "user")
    a = login(api, "leave@example.com", PASSWORD).json()
    b = login(api, "leave@example.com", PASSWORD).json()
    c = login(api, "leave@example.com", PASSWORD).json()

    assert api.client.post("/api/v1/auth/logout", json={"refresh_token": a["refresh_token"]}).status_code == 204
    assert _refresh(api, a["refresh_token"]).status_code == 401
    # Idempotent, and an invalid token answers the same (nothing to learn from it).
    assert api.client.post("/api/v1/auth/logout", json={"refresh_token": a["refresh_token"]}).status_code == 204
    assert api.client.post("/api/v1/auth/logout", json={"refresh_token": "not.a.token"}).status_code == 204
    assert _refresh(api, b["refresh_token"]).status_code == 200

    everywhere = api.client.post("/api/v1/auth/logout-all", headers=api.headers_for(uid, "user"))
    assert everywhere.status_code == 204
    assert _refresh(api, c["refresh_token"]).status_code == 401
    # A token that was never recorded (signed with the right key) is refused too.
    unrecorded = api.state.tokens.issue(uid, "user", "x").refresh_token
    assert _refresh(api, unrecorded).status_code == 401


def test_wrong_password_then_lockout_per_account_and_per_address(api: Api) -> None:
    api.client.post("/api/v1/auth/register", json={"email": "victim@example.com", "password": PASSWORD})
    api.client.post("/api/v1/auth/register", json={"email": "other@example.com", "password": PASSWORD})
    limit = api.state.config.login_max_failures

    for _ in range(limit):
        wrong = login(api, "victim@example.com", "not-the-password")
        assert wrong.status_code == 401 and wrong.headers["content-type"] == PROBLEM
        assert wrong.json()["detail"] == "Incorrect email or password."
    # Unknown accounts answer exactly like wrong passwords (no account enumeration)...
    assert login(api, "nobody@example.com", "whatever").json()["detail"] == "Incorrect email or password."

    # ...and now the account is locked, even with the right password, with a Retry-After.
    locked = login(api, "victim@example.com", PASSWORD)
    assert locked.status_code == 429 and locked.headers["content-type"] == PROBLEM
    assert 1 <= int(locked.headers["retry-after"]) <= 60
    # Other accounts still log in from this address, until the address has failed too often itself.
    assert login(api, "other@example.com", PASSWORD).status_code == 200
    failed = limit + 1  # the victim's failures and nobody's
    for n in range(api.state.config.login_max_failures_per_address - failed):
        assert login(api, f"guess{n}@example.com", "whatever").status_code == 401
    assert login(api, "other@example.com", PASSWORD).status_code == 429


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_lockout_is_shared_through_redis(monkeypatch: pytest.MonkeyPatch, database_url: str, shared_redis: str) -> None:
    """Two app instances (two workers) see the same failure counts when REDIS_URL is set."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from stock_insights_tests.api.helpers import make_user, set_api_env

    set_api_env(monkeypatch, database_url, shared_redis)
    with TestClient(create_app()) as first, TestClient(create_app()) as second:
        make_user(database_url, "shared@example.com")
        for client in (first, second, first, second, first):
            answer = client.post("/api/v1/auth/token", data={"username": "shared@example.com", "password": "wrong-one"})
            assert answer.status_code == 401
        assert (
            second.post("/api/v1/auth/token", data={"username": "shared@example.com", "password": PASSWORD}).status_code
            == 429
        )


def test_create_admin_command(api: Api) -> None:
    user_id, created = create_admin("Boss@Example.com", "admin-password-1", api.url)
    assert created
    assert login(api, "boss@example.com", "admin-password-1").status_code == 200
    # Again: promotes and resets the password, same account.
    assert create_admin("boss@example.com", "admin-password-2", api.url) == (user_id, False)
    assert login(api, "boss@example.com", "admin-password-2").status_code == 200

    # As a command, with the password on stdin (never on the command line).
    env = {"DATABASE_URL": api.url, "PATH": "/usr/bin:/bin", "HOME": str(PROJECT_ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "create-admin", "second@example.com"],
        input="second-password-1\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "second-password-1" not in done.stderr + done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "api.cli", "create-admin", "third@example.com"],
        input="Zq9#w\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and "Zq9#w" not in bad.stderr
    engine = make_engine(api.url)
    with session_scope(engine) as session:
        roles = dict(session.execute(select(User.email, User.role)).all())
    engine.dispose()
    assert roles == {"boss@example.com": "admin", "second@example.com": "admin"}


def test_a_shared_redis_keeps_what_is_not_ours(
    monkeypatch: pytest.MonkeyPatch, database_url: str, shared_redis: str
) -> None:
    """Someone else's keys in the shared Redis survive, and every key the app writes is under its prefix."""
    import uuid

    import redis
    from fastapi.testclient import TestClient

    from api.main import create_app
    from stock_insights.settings import get_settings
    from stock_insights_tests.api.helpers import make_user, set_api_env

    set_api_env(monkeypatch, database_url, shared_redis)
    prefix = get_settings().REDIS_KEY_PREFIX
    assert prefix.startswith("si-test-")
    client = redis.Redis.from_url(shared_redis)
    foreign = f"someone-else:{uuid.uuid4().hex}"
    client.set(foreign, "theirs", ex=600)
    try:
        before = set(client.scan_iter(count=1000))
        with TestClient(create_app()) as app:
            make_user(database_url, "prefix@example.com")
            token = app.post("/api/v1/auth/token", data={"username": "prefix@example.com", "password": PASSWORD})
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            app.post("/api/v1/auth/token", data={"username": "prefix@example.com", "password": "wrong-one"})
            assert app.get("/api/v1/stocks", headers=headers).status_code == 200
            assert app.get("/api/v1/stocks", headers=headers).status_code == 200  # a cached answer
        written = {key.decode() for key in set(client.scan_iter(count=1000)) - before}
        assert written, "the app wrote to Redis"
        assert all(key.startswith(f"{prefix}:") for key in written), sorted(written)[:5]
        assert client.get(foreign) == b"theirs"
    finally:
        client.delete(foreign)
        client.close()
