"""Fixtures of the report tests: a sandbox whose news and filings stand as they were after the close
of 2026-10-16, and the settings that point every client (KIS, DART, Naver, the papers' RSS, OpenAI) at it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from stock_insights.calendar import KST
from stock_insights.sandbox.naver import NaverConfig
from stock_insights.settings import reset_settings_cache
from stock_insights_tests.conftest import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, ServerThread, rebuild_definitions
from stock_insights_tests.news.conftest import DART_KEY, NAVER_ID, NAVER_SECRET, Clock

# Friday 2026-10-16, after the close: the days reported on are closed and their news is out.
NOW = datetime(2026, 10, 16, 18, 0, tzinfo=KST)
OPENAI_KEY = "sk-report-test-key-never-logged"


@pytest.fixture
def report_sandbox() -> Iterator[ServerThread]:
    from stock_insights.sandbox.app import create_app

    # KIS keeps the real clock (its tokens' lifetimes are checked against ours); news and filings are
    # served as they stood at NOW, so that the reported days have their news.
    app = create_app()
    for name in ("naver", "rss", "reddit", "dart"):
        app.state.news[name]._now = Clock(NOW)
    app.state.news["naver"].config = NaverConfig(per_second=1000)
    with ServerThread(app) as server:
        yield server


@pytest.fixture
def report_env(
    monkeypatch: pytest.MonkeyPatch, report_sandbox: ServerThread, database_url: str, tmp_path: Path
) -> Iterator[str]:
    """Every client at the sandbox, the store at ``database_url``; no LLM key yet (the template writes)."""
    url = report_sandbox.url
    env = {
        "DATA_MODE": "simulated",
        "DATABASE_URL": database_url,
        "KIS_BASE_URL": url,
        "KIS_APP_KEY": SANDBOX_APP_KEY,
        "KIS_APP_SECRET": SANDBOX_APP_SECRET,
        "KIS_RATE_LIMIT_PER_SEC": "50",
        "DART_BASE_URL": url,
        "DART_API_KEY": DART_KEY,
        "NAVER_BASE_URL": url,
        "NAVER_CLIENT_ID": NAVER_ID,
        "NAVER_CLIENT_SECRET": NAVER_SECRET,
        "HANKYUNG_FEED_URLS": f"{url}/feed/finance,{url}/feed/economy",
        "MAEIL_FEED_URLS": f"{url}/rss/50200011/,{url}/rss/30100041/",
        "REDDIT_CLIENT_ID": "",
        "REDDIT_CLIENT_SECRET": "",
        "OPENAI_API_KEY": "",
        "OPENAI_BASE_URL": f"{url}/v1",
        "OPENROUTER_API_KEY": "",
        "REPORT_MODEL": "gpt-4o",
        "EMBEDDER": "hashing",
        "STOCK_UNIVERSE": "005930,000660,035420,035720",
        "REDIS_URL": "",
        "HISTORY_START": "2024-01-02",
        "DATA_DIR": str(tmp_path / "data"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    rebuild_definitions(monkeypatch)
    yield database_url
    reset_settings_cache()
