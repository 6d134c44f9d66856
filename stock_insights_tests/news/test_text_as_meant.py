"""Every source's text comes out as its author meant it (issue 20 §1).

Each test serves one title with ``<``, ``>``, ``&`` and a literal ``&amp;`` the way that source puts it
on the wire (a local server answering the documented format) and reads it through the real client over
HTTP:

* Reddit with ``raw_json=1`` sends the text as typed: nothing may be unescaped or stripped;
* Naver sends HTML: ``<b>`` around query terms and the text HTML-escaped;
* the papers' RSS titles carry entities inside the CDATA, descriptions are HTML;
* OpenDART's JSON carries plain text (``report_nm`` may end in spaces).
"""

from __future__ import annotations

import html
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stock_insights.clients.dart import DartClient
from stock_insights.clients.naver import NaverClient
from stock_insights.clients.reddit import RedditClient
from stock_insights.clients.rss import RssClient
from stock_insights_tests.conftest import ServerThread

# What the author wrote: brackets, a bare ampersand, a comparison and the five characters "&amp;".
MEANT = 'NAVER\'s AI push: is <HyperCLOVA X> worth the capex? R&D > 5% & "&amp;" stays'
REDDIT_ISSUE_TITLE = "NAVER's AI push: is <HyperCLOVA X> worth the capex?"
BODY = "Line one: a < b && c > d\n\n<not a tag> &amp; &lt;kept&gt;"
WIRE = Path("/work/shared/reference/wire-samples")
NOW = datetime(2026, 10, 15, 7, 0, tzinfo=UTC)


def serve(*routes: Route) -> ServerThread:
    return ServerThread(Starlette(routes=list(routes)))


# --------------------------------------------------------------------------------------------
# Reddit: raw_json=1 returns & < > unescaped; without it Reddit HTML-escapes them.
# --------------------------------------------------------------------------------------------
def _reddit_app(titles: list[str]) -> list[Route]:
    async def token(request: Request) -> JSONResponse:
        return JSONResponse({"access_token": "t0k", "token_type": "bearer", "expires_in": 3600, "scope": "*"})

    async def listing(request: Request) -> JSONResponse:
        raw = request.query_params.get("raw_json") == "1"

        def text(value: str) -> str:
            return value if raw else html.escape(value, quote=False)

        children = [
            {"kind": "t3", "data": {
                "name": f"t3_a{i}", "id": f"a{i}", "title": text(title), "selftext": text(BODY), "is_self": True,
                "author": "someone", "created_utc": NOW.timestamp() - 60 * (i + 1), "subreddit": "stocks",
                "permalink": f"/r/stocks/comments/a{i}/post_{i}/", "url": f"https://www.reddit.com/r/stocks/comments/a{i}/",
            }}
            for i, title in enumerate(titles)
        ]
        return JSONResponse({"kind": "Listing", "data": {"after": None, "dist": len(children), "children": children,
                                                         "before": None}},
                            headers={"x-ratelimit-remaining": "99", "x-ratelimit-used": "1", "x-ratelimit-reset": "50"})

    return [Route("/api/v1/access_token", token, methods=["POST"]), Route("/r/{sub}/new", listing)]


def test_reddit_titles_and_bodies_stay_as_posted() -> None:
    with serve(*_reddit_app([MEANT, REDDIT_ISSUE_TITLE])) as server, RedditClient(
        f"{server.url}/api/v1/access_token", server.url, SecretStr("id"), SecretStr("secret"),
        "python:stock_insights:v0.1.0 (by /u/stock_insights)", clock=lambda: NOW,
    ) as reddit:
        batch = reddit.fetch_new(["stocks"])
    assert [i.title for i in batch.items] == [MEANT, REDDIT_ISSUE_TITLE]
    assert all(i.body == BODY for i in batch.items)


# --------------------------------------------------------------------------------------------
# Naver: JSON with '/' escaped as '\/', <b> around the query, the text HTML-escaped.
# --------------------------------------------------------------------------------------------
def _naver_html(text: str, term: str) -> str:
    before, _, after = text.partition(term)
    return f"{html.escape(before)}<b>{html.escape(term)}</b>{html.escape(after)}"


def test_naver_html_is_read_with_a_parser_and_unescaped_once() -> None:
    item = {
        "title": _naver_html(MEANT, "NAVER"),
        "originallink": "https://www.example-news.co.kr/news/articleView.html?idxno=7",
        "link": "https://www.example-news.co.kr/news/articleView.html?idxno=7",
        "description": _naver_html(BODY.replace("\n", " "), "kept"),
        "pubDate": "Thu, 15 Oct 2026 15:30:00 +0900",
    }

    async def search(request: Request) -> Response:
        body = {"lastBuildDate": "Thu, 15 Oct 2026 16:00:00 +0900", "total": 1, "start": 1, "display": 1,
                "items": [item]}
        text = json.dumps(body, ensure_ascii=False, indent="\t").replace("/", "\\/")
        return Response(text, media_type="application/json; charset=UTF-8")

    with serve(Route("/v1/search/news.json", search)) as server, NaverClient(
        server.url, SecretStr("id"), SecretStr("secret"), clock=lambda: NOW
    ) as naver:
        batch = naver.search_news(["NAVER"])
    assert [i.title for i in batch.items] == [MEANT]
    assert batch.items[0].summary == " ".join(BODY.split())


# --------------------------------------------------------------------------------------------
# RSS: titles in CDATA with entities inside (or XML-escaped without CDATA), descriptions HTML.
# --------------------------------------------------------------------------------------------
def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _feed(channel: str, items: list[tuple[str, str, str | None]]) -> bytes:
    body = "".join(
        f"<item><no>{n}</no><title>{title}</title><link>https://www.mk.co.kr/news/stock/{n}</link>"
        f"<pubDate>Thu, 15 Oct 2026 15:{n % 60:02d}:00 +09:00</pubDate>"
        + (f"<description>{description}</description>" if description is not None else "")
        + "</item>"
        for n, (title, _, description) in enumerate(items, start=1)
    )
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{channel}</title>'
            f"{body}</channel></rss>").encode()


@pytest.mark.parametrize("source", ["hankyung", "maeil"])
def test_rss_titles_and_descriptions_come_out_as_meant(source: str) -> None:
    entities = html.escape(MEANT)  # the CMS escapes the title, then wraps it in CDATA
    items = [
        (_cdata(entities), "cdata with entities", _cdata(f"<p>{html.escape(BODY)}</p><p>second</p>")),
        (html.escape(entities), "no cdata: XML-escaped entities", html.escape(f"<p>{html.escape(MEANT)}</p>")),
    ]

    async def feed(request: Request) -> Response:
        return Response(_feed("매일경제 : 증권 &amp; 경제", items), media_type="application/rss+xml; charset=UTF-8")

    with serve(Route("/rss/50200011/", feed)) as server, RssClient(source, clock=lambda: NOW) as rss:  # type: ignore[arg-type]
        page = rss.fetch_feed(f"{server.url}/rss/50200011/")
    assert [i.title for i in page.items] == [MEANT, MEANT]
    assert page.items[0].summary == " ".join(BODY.split()) + " second"
    assert page.items[1].summary == MEANT
    assert page.title == "매일경제 : 증권 & 경제"


# --------------------------------------------------------------------------------------------
# OpenDART: list.json carries plain text; report_nm may end in spaces.
# --------------------------------------------------------------------------------------------
def test_dart_report_names_are_plain_text() -> None:
    payload = json.loads((WIRE / "dart_list_live_snapshot_2023-02-08.json").read_text())
    payload.update(page_no=1, total_count=len(payload["list"]), total_page=1)
    payload["list"][0]["report_nm"] = MEANT + "   "
    payload["list"][1]["corp_name"] = "AT&T <코리아> &amp; Co"

    async def listing(request: Request) -> JSONResponse:
        return JSONResponse(payload)

    with serve(Route("/api/list.json", listing)) as server, DartClient(
        server.url, SecretStr("k" * 40), sleep=lambda s: None
    ) as dart:
        batch = dart.list_filings(date(2023, 2, 8), date(2023, 2, 8))
    names = {row.rcept_no: row for row in batch.rows}
    assert names[payload["list"][0]["rcept_no"]].report_name == MEANT
    assert names[payload["list"][1]["rcept_no"]].corp_name == "AT&T <코리아> &amp; Co"
