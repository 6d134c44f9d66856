"""Hankyung and Maeil Business RSS in the sandbox, at the paths of the default feed URLs.

* ``/feed/finance`` and ``/feed/economy`` — 한국경제, RSS 2.0, UTF-8, CDATA titles (some with entities
  inside the CDATA), no ``guid``, no description, ``<link>`` sometimes wrapped in whitespace,
  ``pubDate`` ``+0900`` (sources.md section 4.2).
* ``/rss/50200011/`` (증권, UTF-8) and ``/rss/30100041/`` (경제, **EUC-KR**) — 매일경제, with
  ``xmlns:media``, ``<no>``, CDATA title and description, ``category``, ``author``, ``media:content``
  and ``pubDate`` written ``+09:00``.

A feed lists the newest ``FEED_SIZE`` stories of its paper and section published before the sandbox
clock. Stock stories of the economy section appear in both of a paper's feeds (duplicates across
feeds); other sections answer 404.

Faults (``path_contains`` ``/feed/`` or ``/rss/``): ``malformed_xml`` (the document cut in half),
``html_error`` (an HTML 502 page), ``not_found`` (404), ``bad_items`` (items with no link, no date, a
future date, an empty or entity-only title), ``mislabeled_encoding`` (EUC-KR bytes declared UTF-8),
``delay``.
"""

from __future__ import annotations

import asyncio
import html
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, Request, Response

from stock_insights.sandbox.kis import FaultQueue
from stock_insights.sandbox.market import KST, kst_now
from stock_insights.sandbox.newsroom import Newsroom, Story

FEED_SIZE = 50
LOOKBACK_DAYS = 14
RSS_FAULT_KINDS = frozenset(
    {"malformed_xml", "html_error", "not_found", "bad_items", "mislabeled_encoding", "delay"}
)
_HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>" \
            "</body></html>"


@dataclass(frozen=True)
class Feed:
    path: str
    paper: Literal["hankyung", "maeil"]
    section: Literal["stock", "economy"]
    title: str
    link: str
    encoding: Literal["utf-8", "euc-kr"] = "utf-8"


FEEDS: dict[str, Feed] = {
    feed.path: feed
    for feed in (
        Feed("/feed/finance", "hankyung", "stock", "한국경제 | 증권", "https://www.hankyung.com/finance"),
        Feed("/feed/economy", "hankyung", "economy", "한국경제 | 경제", "https://www.hankyung.com/economy"),
        Feed("/rss/50200011/", "maeil", "stock", "매일경제 : 증권", "https://www.mk.co.kr/news/stock/"),
        Feed("/rss/30100041/", "maeil", "economy", "매일경제 : 경제", "https://www.mk.co.kr/news/economy/", "euc-kr"),
    )
}


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _pub_date(moment: datetime, colon: bool) -> str:
    text = moment.astimezone(KST).strftime("%a, %d %b %Y %H:%M:%S ")
    return text + ("+09:00" if colon else "+0900")


def _hankyung_item(story: Story) -> str:
    # Some CMS exports escape quotes even inside CDATA; clients must unescape either way.
    title = story.title.replace('"', "&quot;") if story.naver_aid % 3 == 0 else story.title
    link = f"\n        {story.url}  \n      " if story.naver_aid % 3 == 1 else story.url
    reporter = ("김", "이", "박", "최", "정")[story.naver_aid % 5] + "기자"
    return (
        "    <item>\n"
        f"      <title>{_cdata(title)}</title>\n"
        f"      <link>{html.escape(link, quote=False)}</link>\n"
        f"      <author>{reporter}</author>\n"
        f"      <pubDate>{_pub_date(story.published_at, colon=False)}</pubDate>\n"
        "    </item>\n"
    )


def _maeil_item(story: Story) -> str:
    number = story.url.rstrip("/").rsplit("/", 1)[-1]
    category = "증권" if story.section == "stock" else "경제"
    return (
        "    <item>\n"
        f"      <no>{number}</no>\n"
        f"      <title>{_cdata(story.title)}</title>\n"
        f"      <link>{html.escape(story.url, quote=False)}</link>\n"
        f"      <category>{category}</category>\n"
        "      <author>매일경제</author>\n"
        f"      <pubDate>{_pub_date(story.published_at, colon=True)}</pubDate>\n"
        f"      <description>{_cdata(story.body)}</description>\n"
        f'      <media:content url="https://wimg.mk.co.kr/news/cms/{number}.jpg" medium="image"></media:content>\n'
        "    </item>\n"
    )


def _bad_items(feed: Feed, moment: datetime) -> str:
    colon = feed.paper == "maeil"
    good_date = _pub_date(moment - timedelta(minutes=3), colon)
    future = _pub_date(moment + timedelta(days=3), colon)
    base = "https://www.hankyung.com/article/" if feed.paper == "hankyung" else "https://www.mk.co.kr/news/stock/"
    return (
        f"    <item><title>{_cdata('링크 없는 기사')}</title><pubDate>{good_date}</pubDate></item>\n"
        f"    <item><title>{_cdata('날짜 없는 기사')}</title><link>{base}99999991</link></item>\n"
        f"    <item><title>{_cdata('미래 날짜 기사')}</title><link>{base}99999992</link>"
        f"<pubDate>{future}</pubDate></item>\n"
        f"    <item><title>{_cdata('')}</title><link>{base}99999993</link><pubDate>{good_date}</pubDate></item>\n"
        f"    <item><title>&amp;quot;&amp;quot;</title><link>{base}99999994</link>"
        f"<pubDate>{good_date}</pubDate></item>\n"
        f"    <item><title>{_cdata('깨진 날짜 기사')}</title><link>{base}99999995</link>"
        "<pubDate>어제 오후</pubDate></item>\n"
    )


class RssSandbox:
    def __init__(self, newsroom: Newsroom, *, now: Callable[[], datetime] | None = None,
                 faults: FaultQueue | None = None) -> None:
        self.newsroom = newsroom
        self._now = now or kst_now
        self.faults = faults or FaultQueue()
        self.faults.allow(RSS_FAULT_KINDS)
        self.counters: Counter[str] = Counter()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        moment = self._now()
        return moment.replace(tzinfo=KST) if moment.tzinfo is None else moment.astimezone(KST)

    def items(self, feed: Feed, moment: datetime) -> list[Story]:
        chosen: list[Story] = []
        for offset in range(LOOKBACK_DAYS):
            day = moment.date() - timedelta(days=offset)
            stories = [
                s for s in self.newsroom.published(day, moment)
                if s.publisher == feed.paper
                and (s.section == feed.section or (feed.section == "stock" and s.codes))
            ]
            chosen.extend(sorted(stories, key=lambda s: s.published_at, reverse=True))
            if len(chosen) >= FEED_SIZE:
                break
        return chosen[:FEED_SIZE]

    def document(self, feed: Feed, *, bad_items: bool = False) -> str:
        moment = self.now()
        return render_feed(feed, self.items(feed, moment), moment, bad_items=bad_items)


def render_feed(feed: Feed, stories: list[Story], moment: datetime, *, bad_items: bool = False) -> str:
    """The feed document (text; encode it with the feed's encoding) listing ``stories``."""
    render = _hankyung_item if feed.paper == "hankyung" else _maeil_item
    namespaces = ' xmlns:media="http://search.yahoo.com/mrss/"' if feed.paper == "maeil" else ""
    declared = "EUC-KR" if feed.encoding == "euc-kr" else "UTF-8"
    body = "".join(render(s) for s in stories)
    if bad_items:
        body = _bad_items(feed, moment) + body
    return (
        f'<?xml version="1.0" encoding="{declared}"?>\n'
        f'<rss version="2.0"{namespaces}>\n'
        "  <channel>\n"
        f"    <title>{feed.title}</title>\n"
        f"    <link>{feed.link}</link>\n"
        f"    <description>{feed.title}</description>\n"
        f"    <lastBuildDate>{_pub_date(moment, colon=feed.paper == 'maeil')}</lastBuildDate>\n"
        f"{body}"
        "  </channel>\n"
        "</rss>\n"
    )


def build_rss_router(sandbox: RssSandbox) -> APIRouter:
    router = APIRouter()

    async def serve(request: Request, path: str) -> Response:
        sandbox.counters[path] += 1
        fault = sandbox.faults.take(request.url.path)
        if fault is not None:
            sandbox.counters[f"fault_{fault.kind}"] += 1
            if fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
                fault = None
            elif fault.kind == "html_error":
                return Response(content=_HTML_502, status_code=502, media_type="text/html")
            elif fault.kind == "not_found":
                return Response(content="<html><body>404 Not Found</body></html>", status_code=404,
                                media_type="text/html")
        feed = FEEDS.get(path)
        if feed is None:
            return Response(content="<html><body>404 Not Found</body></html>", status_code=404,
                            media_type="text/html")
        text = await asyncio.to_thread(sandbox.document, feed,
                                       bad_items=fault is not None and fault.kind == "bad_items")
        if fault is not None and fault.kind == "malformed_xml":
            text = text[: len(text) // 2]
        if fault is not None and fault.kind == "mislabeled_encoding":
            return Response(content=text.encode("cp949", errors="xmlcharrefreplace"),
                            media_type="application/rss+xml")
        if feed.encoding == "euc-kr":
            return Response(content=text.encode("cp949", errors="xmlcharrefreplace"),
                            media_type="application/rss+xml; charset=EUC-KR")
        return Response(content=text.encode("utf-8"), media_type="application/rss+xml; charset=UTF-8")

    @router.get("/feed/{section}", summary="한국경제 RSS")
    async def hankyung(request: Request, section: str) -> Response:
        return await serve(request, f"/feed/{section}")

    @router.get("/rss/{feed_id}/", summary="매일경제 RSS")
    async def maeil(request: Request, feed_id: str) -> Response:
        return await serve(request, f"/rss/{feed_id}/")

    @router.get("/_sandbox/rss/stats", summary="RSS sandbox counters")
    async def stats() -> dict[str, int]:
        return dict(sandbox.counters)

    return router
