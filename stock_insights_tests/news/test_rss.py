"""The RSS client against the sandbox's Hankyung and Maeil feeds, and against the documented samples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from stock_insights.clients.errors import SourceDataError, SourceTransportError
from stock_insights.clients.rss import RssClient, parse_feed
from stock_insights.text.clean import has_hangul
from stock_insights_tests.news.conftest import START, add_fault

FETCHED = datetime(2026, 9, 22, 7, 0, tzinfo=UTC)
MAEIL_SAMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
  <channel>
    <title>매일경제 : 경제</title>
    <link>https://www.mk.co.kr/news/economy/</link>
    <item>
      <no>10000001</no>
      <title><![CDATA[“집값 잡으려 어쩔수 없지만”…가계이자 부담 늘어]]></title>
      <link>https://www.mk.co.kr/news/economy/10000001</link>
      <category>경제</category>
      <author>매일경제</author>
      <pubDate>Tue, 22 Sep 2026 14:37:38 +09:00</pubDate>
      <description><![CDATA[요약문은 저장하지 않는다]]></description>
      <media:content url="https://wimg.mk.co.kr/test.jpg" medium="image"></media:content>
    </item>
  </channel>
</rss>"""
HANKYUNG_SAMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>한국경제 | 경제</title>
    <link>https://www.hankyung.com/economy</link>
    <item>
      <title><![CDATA[기준금리 동결…"연내 인하 가능성"]]></title>
      <link>
        https://www.hankyung.com/article/202609220001i
      </link>
      <author>김테스트</author>
      <pubDate>Tue, 22 Sep 2026 15:01:06 +0900</pubDate>
    </item>
  </channel>
</rss>"""


def test_documented_samples_parse_kst_aware() -> None:
    maeil = parse_feed(MAEIL_SAMPLE.encode(), source="maeil", feed_url="mk", fetched_at=FETCHED)
    item = maeil.items[0]
    kst = timezone(timedelta(hours=9))
    assert item.published_at == datetime(2026, 9, 22, 14, 37, 38, tzinfo=kst)  # +09:00 is not naive
    assert item.source_item_id == "10000001" and item.title.startswith("“집값")
    hankyung = parse_feed(HANKYUNG_SAMPLE.encode(), source="hankyung", feed_url="hk", fetched_at=FETCHED)
    item = hankyung.items[0]
    assert item.url == "https://www.hankyung.com/article/202609220001i"  # whitespace in <link> stripped
    assert item.source_item_id is None and item.title == '기준금리 동결…"연내 인하 가능성"'
    assert item.published_at == datetime(2026, 9, 22, 6, 1, 6, tzinfo=UTC)
    euc = parse_feed(MAEIL_SAMPLE.replace("UTF-8", "EUC-KR").encode("euc-kr"), source="maeil", feed_url="mk",
                     fetched_at=FETCHED)
    assert euc.encoding == "cp949" and euc.items[0].title == maeil.items[0].title


def test_sandbox_feeds_utf8_and_euc_kr(sandbox_url: str) -> None:
    raw = httpx.get(f"{sandbox_url}/rss/30100041/")
    assert "euc-kr" in raw.headers["content-type"].lower()
    assert raw.content.startswith(b'<?xml version="1.0" encoding="EUC-KR"')
    with RssClient("maeil") as maeil:
        batch = maeil.fetch([f"{sandbox_url}/rss/50200011/", f"{sandbox_url}/rss/30100041/"])
    assert batch.status == "ok" and not batch.errors and batch.skipped_total == 0
    assert len(batch.items) == 100 and all(has_hangul(i.title) for i in batch.items)
    assert all(i.published_at <= START for i in batch.items)  # nothing from after the sandbox clock
    with RssClient("hankyung") as hankyung:
        batch = hankyung.fetch([f"{sandbox_url}/feed/finance", f"{sandbox_url}/feed/economy"])
    urls = [i.canonical_url for i in batch.items]
    assert len(urls) > len(set(urls))  # stock stories of the economy section are in both feeds
    assert all(i.url == i.url.strip() and "&quot;" not in i.title for i in batch.items)


def test_bad_items_are_skipped_and_counted(sandbox_url: str) -> None:
    add_fault(sandbox_url, "/feed/finance", "bad_items")
    with RssClient("hankyung", clock=lambda: START.astimezone(UTC)) as hankyung:
        batch = hankyung.fetch([f"{sandbox_url}/feed/finance"])
    assert batch.skipped == {"no_link": 1, "no_date": 1, "future_dated": 1, "empty_title": 2, "bad_date": 1}
    assert len(batch.items) == 50


def test_malformed_xml_fails_that_feed_only(sandbox_url: str) -> None:
    add_fault(sandbox_url, "/feed/finance", "malformed_xml")
    with RssClient("hankyung") as hankyung:
        batch = hankyung.fetch([f"{sandbox_url}/feed/finance", f"{sandbox_url}/feed/economy"])
    assert len(batch.errors) == 1 and "malformed XML" in batch.errors[0] and batch.items
    add_fault(sandbox_url, "/feed/finance", "malformed_xml")
    with RssClient("hankyung") as hankyung, pytest.raises(SourceDataError, match="malformed XML"):
        hankyung.fetch([f"{sandbox_url}/feed/finance"])


def test_mislabelled_encoding_and_html_pages(sandbox_url: str) -> None:
    add_fault(sandbox_url, "/feed/economy", "mislabeled_encoding")
    with RssClient("hankyung") as hankyung:
        batch = hankyung.fetch([f"{sandbox_url}/feed/economy"])
    assert batch.items and all(has_hangul(i.title) for i in batch.items)
    add_fault(sandbox_url, "/feed/economy", "html_error", count=5)
    with RssClient("hankyung", sleep=lambda s: None) as hankyung, pytest.raises(SourceTransportError, match="502"):
        hankyung.fetch([f"{sandbox_url}/feed/economy"])
    with pytest.raises(SourceDataError, match="not an RSS"):
        parse_feed(b"<html><body>maintenance</body></html>", source="maeil", feed_url="x", fetched_at=FETCHED)
