"""The Naver client against the sandbox over HTTP, and the sandbox against the captured wire format."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from stock_insights.clients.errors import SourceAuthError, SourceTransportError
from stock_insights.clients.naver import NaverClient, parse_search_page
from stock_insights.text.dedupe import group_items
from stock_insights.text.items import SkipLog
from stock_insights_tests.news.conftest import NAVER_ID, NAVER_SECRET, START, add_fault

WIRE = Path("/work/shared/reference/wire-samples")
HEADERS = {"X-Naver-Client-Id": NAVER_ID, "X-Naver-Client-Secret": NAVER_SECRET}


def client(url: str, **kwargs) -> NaverClient:
    sleeps: list[float] = []
    # The client's clock is the sandbox's: "future" means after the simulated now.
    naver = NaverClient(url, SecretStr(NAVER_ID), SecretStr(NAVER_SECRET), sleep=sleeps.append,
                        clock=lambda: START.astimezone(UTC), **kwargs)
    naver.sleeps = sleeps  # type: ignore[attr-defined]
    return naver


def test_sandbox_answers_in_the_captured_layout(sandbox_url: str) -> None:
    answer = httpx.get(f"{sandbox_url}/v1/search/news.json", params={"query": "삼성전자", "display": 100},
                       headers=HEADERS)
    assert answer.status_code == 200
    text = answer.text
    sample = (WIRE / "naver_news_search.json").read_text()
    # Newline + TAB indentation, no space after ':', '/' escaped, <b> and &quot; in the text.
    assert text.startswith('{\n\t"lastBuildDate":"') and sample.startswith('{\n\t"lastBuildDate":"')
    assert '"items":[\n\t\t{\n\t\t\t"title":"' in text
    assert "https:\\/\\/" in text and "<\\/b>" in text and "&quot;" in text
    ours, theirs = json.loads(text), json.loads(sample)
    assert list(ours) == list(theirs)
    assert list(ours["items"][0]) == list(theirs["items"][0])
    assert ours["items"][0]["pubDate"].endswith(" +0900")
    # Errors: the captured bodies, byte for byte.
    refused = httpx.get(f"{sandbox_url}/v1/search/news.json", params={"query": "삼성전자"})
    assert refused.status_code == 401 and refused.text == (WIRE / "naver_401_scope_invalid.json").read_text().strip()


def test_parses_the_wire_sample() -> None:
    payload = json.loads((WIRE / "naver_news_search.json").read_text())
    skips = SkipLog()
    page = parse_search_page(payload, fetched_at=datetime(2025, 1, 21, 4, 0, tzinfo=UTC), query="맛집", skips=skips)
    assert skips.total == 0 and page.total == 675726 and len(page.items) == 3
    assert page.items[1].title == '하나카드 "위안화도 무료환전"'
    assert "<b>" not in page.items[0].summary  # type: ignore[operator]
    assert page.items[0].published_at == datetime(2025, 1, 21, 3, 20, tzinfo=UTC)
    third = page.items[2]
    # Dedupe on originallink; Naver's own link (with ?sid=) is kept as the source URL.
    assert third.canonical_url == "https://donga.com/news/Economy/article/all/20250121/130902984/1"
    assert third.source_url.endswith("?sid=101") and third.source_item_id == "020/0003611259"


def test_search_pages_and_duplicates_across_pages(sandbox_url: str) -> None:
    with client(sandbox_url) as naver:
        batch = naver.search_news(["삼성전자"], display=50)
    assert batch.status == "ok" and batch.requests >= 3
    assert all("<b>" not in item.title and "&quot;" not in item.title for item in batch.items)
    urls = [item.canonical_url for item in batch.items]
    assert len(urls) > len(set(urls))  # re-deliveries reach later pages
    groups = group_items(batch.items)
    assert len({g.canonical_url for g in groups}) == len(groups) < len(set(urls))  # + wire copies by text
    entity = [i.title for i in batch.items if "<단독>" in i.title or "R&D" in i.title or '"' in i.title]
    assert entity  # entity-laden headlines arrive readable


def test_stops_at_what_we_already_have(sandbox_url: str) -> None:
    with client(sandbox_url) as naver:
        first = naver.search_news(["카카오"], display=20)
        known = {item.canonical_url for item in first.items[5:]}
        again = naver.search_news(["카카오"], known_urls=known, display=20)
    assert again.requests - first.requests == 1  # the first page already reached known items
    assert 0 < len(again.items) <= 20


def test_rate_limit_012_is_retried(sandbox_url: str) -> None:
    add_fault(sandbox_url, "/v1/search/news", "rate_limit", count=2)
    with client(sandbox_url) as naver:
        batch = naver.search_news(["NAVER"], display=100)
    assert batch.status == "ok" and batch.items
    assert naver.stats["rate_limited"] == 2 and len(naver.sleeps) == 2  # type: ignore[attr-defined]


def test_daily_quota_010_stops_cleanly_as_partial(sandbox_url: str) -> None:
    add_fault(sandbox_url, "/v1/search/news", "daily_quota", count=5, skip=1)
    with client(sandbox_url) as naver:
        batch = naver.search_news(["네이버", "카카오", "삼성전자"], display=100)
    assert batch.status == "partial" and "010" in (batch.message or "")
    assert batch.items and {i.channel for i in batch.items} == {"네이버"}


def test_bad_items_are_skipped_and_counted(sandbox_url: str) -> None:
    add_fault(sandbox_url, "/v1/search/news", "bad_items")
    with client(sandbox_url) as naver:
        batch = naver.search_news(["하이닉스"], display=100)
    assert batch.skipped == {"no_date": 1, "empty_title": 2, "no_link": 1, "future_dated": 1, "bad_link": 1}
    assert batch.items and len(batch.skip_examples) == 6


def test_malformed_json_is_retried_then_a_clear_error(sandbox_url: str) -> None:
    add_fault(sandbox_url, "/v1/search/news", "malformed_json", count=1)
    with client(sandbox_url) as naver:
        assert naver.search_news(["NAVER"]).items
    add_fault(sandbox_url, "/v1/search/news", "malformed_json", count=20)
    with client(sandbox_url) as naver, pytest.raises(SourceTransportError, match="malformed JSON"):
        naver.search_news(["NAVER"])


def test_refused_credentials_raise_without_the_secret(sandbox_url: str) -> None:
    add_fault(sandbox_url, "/v1/search/news", "auth_failure")
    with client(sandbox_url) as naver, pytest.raises(SourceAuthError) as raised:
        naver.search_news(["NAVER"])
    assert "024" in str(raised.value) and NAVER_SECRET not in str(raised.value)
    with pytest.raises(SourceAuthError):
        NaverClient(sandbox_url, SecretStr(""), SecretStr(""))


def test_hub_path_and_header_names_are_configurable(sandbox_url: str) -> None:
    # The sandbox speaks Developers Center names; a client set to HUB names is refused (024).
    with client(sandbox_url, id_header="X-NCP-APIGW-API-KEY-ID", secret_header="X-NCP-APIGW-API-KEY") as hub, \
            pytest.raises(SourceAuthError):
        hub.search_news(["NAVER"])
