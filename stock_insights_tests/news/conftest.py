"""Fixtures of the news and disclosures tests: one sandbox with a movable clock, over real HTTP.

The sandbox clock starts at ``START`` (a KRX session, after the close) so that every answer is
deterministic; tests that move it restore it. Faults are cleared after every test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from stock_insights.sandbox.market import KST
from stock_insights.sandbox.naver import NaverConfig
from stock_insights.settings import reset_settings_cache
from stock_insights_tests.conftest import ServerThread, rebuild_definitions

START = datetime(2026, 10, 15, 16, 0, tzinfo=KST)
NAVER_ID, NAVER_SECRET = "naver-test-client-id", "naver-test-client-secret-never-logged"
DART_KEY = "d" * 32 + "secret00"  # 40 characters, like a real crtfc_key
REDDIT_ID, REDDIT_SECRET = "reddit-test-id", "reddit-test-secret-never-logged"
USER_AGENT = "python:stock_insights:v0.1.0 (by /u/stock_insights)"


class Clock:
    """The sandbox's ``now``: a fixed KST time tests can move."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture(scope="session")
def news_clock() -> Clock:
    return Clock(START)


@pytest.fixture(scope="session")
def news_sandbox(news_clock: Clock) -> Iterator[ServerThread]:
    from stock_insights.sandbox.app import create_app

    app = create_app(now=news_clock)
    # Tests share one sandbox and inject 012 as a fault; a natural per-second limit would make one
    # test's requests rate-limit the next one's.
    app.state.news["naver"].config = NaverConfig(per_second=1000)
    with ServerThread(app) as server:
        yield server


@pytest.fixture
def sandbox_url(news_sandbox: ServerThread, news_clock: Clock) -> Iterator[str]:
    news_clock.moment = START
    yield news_sandbox.url
    news_clock.moment = START
    httpx.delete(f"{news_sandbox.url}/_sandbox/faults")


def add_fault(url: str, path_contains: str, kind: str, count: int = 1, *, skip: int = 0, seconds: float = 0) -> None:
    answer = httpx.post(f"{url}/_sandbox/faults", json={"path_contains": path_contains, "kind": kind, "count": count,
                                                        "skip": skip, "seconds": seconds})
    assert answer.status_code == 200, answer.text


@pytest.fixture
def news_env(monkeypatch: pytest.MonkeyPatch, sandbox_url: str, database_url: str) -> Iterator[str]:
    """Settings pointing every news and DART client at the sandbox and the store at ``database_url``."""
    env = {
        "DATA_MODE": "simulated",
        "DATABASE_URL": database_url,
        "NAVER_BASE_URL": sandbox_url,
        "NAVER_CLIENT_ID": NAVER_ID,
        "NAVER_CLIENT_SECRET": NAVER_SECRET,
        "HANKYUNG_FEED_URLS": f"{sandbox_url}/feed/finance,{sandbox_url}/feed/economy",
        "MAEIL_FEED_URLS": f"{sandbox_url}/rss/50200011/,{sandbox_url}/rss/30100041/",
        "REDDIT_AUTH_URL": f"{sandbox_url}/api/v1/access_token",
        "REDDIT_BASE_URL": sandbox_url,
        "REDDIT_CLIENT_ID": REDDIT_ID,
        "REDDIT_CLIENT_SECRET": REDDIT_SECRET,
        "REDDIT_USER_AGENT": USER_AGENT,
        "DART_BASE_URL": sandbox_url,
        "DART_API_KEY": DART_KEY,
        "STOCK_UNIVERSE": "005930,000660,035420,035720",
        "REDIS_URL": "",
        "HISTORY_START": "2024-01-02",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    rebuild_definitions(monkeypatch)
    yield database_url
    reset_settings_cache()
