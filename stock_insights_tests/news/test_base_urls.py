"""Base URLs as users write them (issue 20 §3): with or without a trailing slash, with or without the
path segment the client adds itself, a version segment given twice. Each form reaches the same
endpoint through the real client over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date

import pytest
from pydantic import SecretStr

from stock_insights.clients.dart import DartClient
from stock_insights.clients.kis import KisClient, MemoryTokenStore
from stock_insights.clients.naver import NaverClient
from stock_insights.clients.reddit import RedditClient
from stock_insights.embeddings.factory import build_embedder
from stock_insights.settings import Settings
from stock_insights_tests.conftest import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, ServerThread
from stock_insights_tests.news.conftest import (
    DART_KEY,
    NAVER_ID,
    NAVER_SECRET,
    REDDIT_ID,
    REDDIT_SECRET,
    START,
    USER_AGENT,
)

DART_FORMS = ["{url}", "{url}/", "{url}/api", "{url}/api/", " {url}/API/ "]


@pytest.mark.parametrize("form", DART_FORMS)
def test_opendart_base_with_or_without_api(sandbox_url: str, form: str) -> None:
    base = form.format(url=sandbox_url)
    with DartClient(base, SecretStr(DART_KEY), sleep=lambda s: None, requests_per_second=100) as dart:
        codes = dart.corp_codes()
        filings = dart.list_filings(date(2026, 10, 14), date(2026, 10, 15), max_pages=1)
    assert any(row.stock_code == "005930" for row in codes.rows)
    assert filings.rows
    settings = Settings(_env_file=None, DART_BASE_URL=base)
    assert sandbox_url == settings.DART_BASE_URL


@pytest.mark.parametrize("form", ["{url}", "{url}/", "{url}/v1", "{url}/v1/", "{url}/v1/search/"])
def test_naver_base_with_or_without_the_version(sandbox_url: str, form: str) -> None:
    base = form.format(url=sandbox_url)
    with NaverClient(base, SecretStr(NAVER_ID), SecretStr(NAVER_SECRET), sleep=lambda s: None,
                     clock=lambda: START.astimezone(UTC)) as naver:
        page = naver.search_page("삼성전자", start=1, display=10)
    assert page.items
    assert sandbox_url == Settings(_env_file=None, NAVER_BASE_URL=base).NAVER_BASE_URL


@pytest.mark.parametrize("form", ["{url}", "{url}/", "{url}//"])
def test_reddit_base_with_a_trailing_slash(sandbox_url: str, form: str) -> None:
    base = form.format(url=sandbox_url)
    with RedditClient(f" {sandbox_url}/api/v1/access_token ", base, SecretStr(REDDIT_ID), SecretStr(REDDIT_SECRET),
                      USER_AGENT, sleep=lambda s: None) as reddit:
        batch = reddit.fetch_new(["korea"], limit=5, max_pages=1)
    assert batch.items
    assert sandbox_url == Settings(_env_file=None, REDDIT_BASE_URL=base).REDDIT_BASE_URL


@pytest.fixture(scope="module")
def kis_sandbox() -> Iterator[ServerThread]:
    from stock_insights.sandbox.app import create_app

    with ServerThread(create_app()) as server:
        yield server


@pytest.fixture(scope="module")
def kis_tokens() -> MemoryTokenStore:
    # KIS issues one token a minute per app key: every form of the base shares it (same fingerprint).
    return MemoryTokenStore()


@pytest.mark.parametrize("form", ["{url}", "{url}/", "{url}/uapi", "{url}/uapi/"])
def test_kis_base_with_or_without_uapi(kis_sandbox: ServerThread, kis_tokens: MemoryTokenStore, form: str) -> None:
    base = form.format(url=kis_sandbox.url)
    with KisClient(base, SecretStr(SANDBOX_APP_KEY), SecretStr(SANDBOX_APP_SECRET), token_store=kis_tokens,
                   sleep=lambda s: None) as kis:
        chart = kis.daily_chart("005930", date(2026, 10, 5), date(2026, 10, 8), adjusted=True)
    assert chart.bars
    assert KisClient.key_fingerprint(base, SecretStr(SANDBOX_APP_KEY)) == KisClient.key_fingerprint(
        kis_sandbox.url, SecretStr(SANDBOX_APP_KEY)
    )
    assert kis_sandbox.url == Settings(_env_file=None, KIS_BASE_URL=base).KIS_BASE_URL


@pytest.mark.parametrize("form", ["{url}", "{url}/", "{url}/v1", "{url}/v1/", "{url}/v1/v1"])
def test_openai_base_with_the_version_once_twice_or_not_at_all(kis_sandbox: ServerThread, form: str) -> None:
    settings = Settings(_env_file=None, OPENAI_BASE_URL=form.format(url=kis_sandbox.url), OPENAI_API_KEY="sk-sandbox",
                        EMBEDDER="openai", EMBEDDING_DIMENSIONS=64)
    assert f"{kis_sandbox.url}/v1" == settings.OPENAI_BASE_URL
    batch = build_embedder(settings).embed(["삼성전자 <HBM> & 수주"])
    assert len(batch.vectors) == 1


@pytest.mark.parametrize(("given", "used"), [
    ("https://openrouter.ai/api/v1", "https://openrouter.ai/api/v1"),
    ("https://openrouter.ai/api/v1/", "https://openrouter.ai/api/v1"),
    ("https://openrouter.ai/api", "https://openrouter.ai/api/v1"),
    ("https://openrouter.ai", "https://openrouter.ai/api/v1"),
    ("https://openrouter.ai/api/v1/v1", "https://openrouter.ai/api/v1"),
    ("http://127.0.0.1:8900/openrouter/v1/", "http://127.0.0.1:8900/openrouter/v1"),  # a proxy's own prefix
])
def test_openrouter_base_forms(given: str, used: str) -> None:
    assert used == Settings(_env_file=None, OPENROUTER_BASE_URL=given).OPENROUTER_BASE_URL


def test_documented_defaults_are_unchanged() -> None:
    settings = Settings(_env_file=None)
    assert settings.DART_BASE_URL == "https://opendart.fss.or.kr"
    assert settings.OPENAI_BASE_URL == "https://api.openai.com/v1"
    assert settings.OPENROUTER_BASE_URL == "https://openrouter.ai/api/v1"
    assert settings.NAVER_BASE_URL == "https://openapi.naver.com"
    assert settings.KIS_BASE_URL == "https://openapi.koreainvestment.com:9443"
