"""A PostgreSQL that really goes away under the API (issue "Hardening", defect 3).

The API runs over real HTTP against a throwaway database of its own, reached through a TCP relay this test
controls. Taking the relay down closes every open connection and refuses new ones (what a stopped or
unreachable server looks like to the client); bringing it up restores the path. While it is down every
path answers 503 application/problem+json with Retry-After on the *same* keep-alive connection, the
outage is logged once (no traceback per request), and when it is back the API answers again by itself.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from stock_insights.settings import reset_settings_cache
from stock_insights_tests.api.helpers import seed, set_api_env
from stock_insights_tests.conftest import ServerThread, _create_pg_database, _drop_pg_database, _libpq, free_port

PROBLEM = "application/problem+json"


class Relay:
    """A TCP relay to PostgreSQL on a port of its own that can be cut (connections closed, port refusing)."""

    def __init__(self, upstream_url: str) -> None:
        url = make_url(upstream_url)
        socket_dir = url.query.get("host")
        if isinstance(socket_dir, str) and socket_dir.startswith("/"):  # pgserver: a Unix socket
            self.upstream: tuple[int, object] = (socket.AF_UNIX, str(Path(socket_dir) / f".s.PGSQL.{url.port or 5432}"))
        else:
            self.upstream = (socket.AF_INET, (url.host or "127.0.0.1", url.port or 5432))
        self.port = free_port()
        self._server: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def up(self) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        with self._lock:
            for sock in self._sockets:
                for action in (lambda s: s.shutdown(socket.SHUT_RDWR), lambda s: s.close()):
                    with contextlib.suppress(OSError):
                        action(sock)
            self._sockets.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # closed by down()
            family, address = self.upstream
            upstream = socket.socket(family, socket.SOCK_STREAM)
            try:
                upstream.connect(address)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._server is not server:  # cut meanwhile
                    client.close()
                    upstream.close()
                    return
                self._sockets.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, needle: str) -> list[str]:
        return [r.getMessage() for r in self.records if needle in r.getMessage()]


@pytest.fixture
def own_database(postgres_server: str) -> Iterator[tuple[str, str]]:
    """A database of this test's own (name, direct URL); dropped at the end."""
    name, url = _create_pg_database(postgres_server)
    try:
        yield name, url
    finally:
        _drop_pg_database(postgres_server, name)


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    # The root logger (the API's loggers propagate to it) and uvicorn's error logger (which does not).
    loggers = [logging.getLogger(), logging.getLogger("uvicorn.error")]
    previous = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger, level in zip(loggers, previous, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def _call(conn: http.client.HTTPConnection, method: str, path: str, token: str, body: str | None = None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response, response.read()


def test_every_path_answers_503_on_the_same_connection_while_postgresql_is_gone(
    monkeypatch: pytest.MonkeyPatch, own_database: tuple[str, str], records: Records
) -> None:
    from api.main import create_app

    name, direct = own_database
    relay = Relay(direct)
    relay.up()
    via_relay = make_url(direct).set(host="127.0.0.1", port=relay.port, query={}).render_as_string(hide_password=False)
    set_api_env(monkeypatch, via_relay)
    app = create_app()
    try:
        with ServerThread(app) as server:
            seed(direct)
            from stock_insights_tests.api.helpers import make_user

            user_id = make_user(direct, "reader@example.com")
            token = app.state.api.tokens.issue(user_id, "user", "").access_token
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            for _ in range(2):  # the second is served by the fast path
                response, _ = _call(conn, "GET", "/api/v1/news?limit=5", token)
                assert response.status == 200
            sock = conn.sock
            assert app.state.api.fastpath.hits >= 1

            # Backends of our own database terminated: a blip, not an outage (the pool reconnects).
            with psycopg.connect(_libpq(direct), autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                    "pg_backend_pid()",
                    (name,),
                )
            response, _ = _call(conn, "GET", "/api/v1/news?limit=5", token)
            assert response.status == 200

            relay.down()
            paths = [
                ("GET", "/api/v1/news?limit=5", None),  # a cached answer: the fast path
                ("GET", "/api/v1/news?limit=7", None),  # a miss: the router and a session
                ("GET", "/api/v1/users/me", None),
                ("GET", "/api/v1/notifications", None),
                ("POST", "/api/v1/auth/token", "username=reader%40example.com&password=wrong-password"),
            ]
            for _ in range(3):
                for method, path, body in paths:
                    response, raw = _call(conn, method, path, token, body)
                    assert response.status == 503, (path, response.status, raw[:300])
                    assert response.getheader("content-type") == PROBLEM, path
                    assert response.getheader("retry-after") == "5", path
                    assert response.getheader("connection") != "close", path
                    assert json.loads(raw)["status"] == 503
                    assert conn.sock is sock, f"{path}: the connection was dropped"
            ready, raw = _call(conn, "GET", "/health/ready", token)
            assert ready.status == 503 and json.loads(raw)["checks"]["database"]["ok"] is False
            live, _ = _call(conn, "GET", "/health", token)
            assert live.status == 200 and conn.sock is sock

            relay.up()
            for _ in range(100):  # the API notices by itself: no restart, no operator
                response, _ = _call(conn, "GET", "/api/v1/news?limit=5", token)
                if response.status == 200:
                    break
                time.sleep(0.1)
            assert response.status == 200 and conn.sock is sock
            me, raw = _call(conn, "GET", "/api/v1/users/me", token)
            assert me.status == 200, raw
            conn.close()
    finally:
        relay.down()
        reset_settings_cache()

    assert len(records.messages("database unavailable")) == 1, records.messages("database")
    assert len(records.messages("database reachable again")) == 1
    tracebacks = [r for r in records.records if r.exc_info and r.levelno >= logging.ERROR]
    assert tracebacks == [], [r.getMessage() for r in tracebacks]
    assert not records.messages("Exception in ASGI application")
    assert len(records.messages("dedicated dataset version read failed")) <= 2  # once per failure streak
