"""A PostgreSQL that does not answer fails a connection after DATABASE_CONNECT_TIMEOUT_SECONDS, never hangs it.

The "server" is a listening socket that never answers: the kernel completes the TCP handshake, libpq sends its
startup packet and nothing ever comes back (as with a server whose host drops packets, or a hung postmaster).
Without a connect timeout both engines (the pipeline's and the API's) wait for ever.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy.exc import OperationalError

from stock_insights.settings import Settings, reset_settings_cache
from stock_insights.storage.db import make_async_engine, make_engine

HANG_GUARD_SECONDS = 20.0


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A PostgreSQL URL whose port accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        listener.close()  # resets whatever is still queued: a connection left hanging is released


@pytest.fixture
def two_second_timeout(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_CONNECT_TIMEOUT_SECONDS", "2")
    reset_settings_cache()
    yield
    reset_settings_cache()


def test_the_default_is_five_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_CONNECT_TIMEOUT_SECONDS", raising=False)
    assert Settings(_env_file=None).DATABASE_CONNECT_TIMEOUT_SECONDS == 5  # type: ignore[call-arg]


def test_the_sync_engine_gives_up_on_a_silent_server(silent_server: str, two_second_timeout: None) -> None:
    engine = make_engine(silent_server)
    outcome: dict[str, object] = {}

    def connect() -> None:
        t0 = time.monotonic()
        try:
            with engine.connect():
                outcome["error"] = None
        except Exception as exc:
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - t0

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(HANG_GUARD_SECONDS)
    assert not thread.is_alive(), f"connecting to a silent server still hangs after {HANG_GUARD_SECONDS:.0f} s"
    assert isinstance(outcome["error"], OperationalError)
    # It waited for the configured 2 s (not an instant refusal); the hang guard above bounds it from above.
    assert outcome["seconds"] >= 1.5  # type: ignore[operator]
    engine.dispose()


def test_the_async_engine_gives_up_on_a_silent_server(silent_server: str, two_second_timeout: None) -> None:
    async def attempt() -> tuple[BaseException | None, float]:
        engine = make_async_engine(silent_server)
        t0 = time.monotonic()
        try:
            async with asyncio.timeout(HANG_GUARD_SECONDS):
                async with engine.connect():
                    return None, time.monotonic() - t0
        except TimeoutError as exc:
            return exc, time.monotonic() - t0
        except OperationalError as exc:
            return exc, time.monotonic() - t0
        finally:
            await engine.dispose()

    error, seconds = asyncio.run(attempt())
    assert isinstance(error, OperationalError), f"no connect timeout: still waiting after {seconds:.0f} s"
    assert seconds >= 1.5  # the configured 2 s governed; the hang guard bounds it from above


def test_a_timeout_in_the_url_is_kept(silent_server: str, two_second_timeout: None) -> None:
    engine = make_engine(f"{silent_server}?connect_timeout=3")
    t0 = time.monotonic()
    with pytest.raises(OperationalError), engine.connect():
        pass
    assert 2.5 <= time.monotonic() - t0 < 10
    engine.dispose()
