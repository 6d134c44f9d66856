"""Hankyung (한국경제) and Maeil Business (매일경제) RSS client: httpx fetches bytes, feedparser parses.

Protocol facts this code relies on (../shared/reference/sources.md section 4):
- RSS 2.0, titles usually in CDATA (entities may sit inside the CDATA), **no ``guid``**: the
  canonical link is the item's id. Hankyung's ``<link>`` may carry surrounding whitespace.
- Maeil writes ``pubDate`` as ``Tue, 22 Sep 2026 14:37:38 +09:00``; Python's
  ``parsedate_to_datetime`` returns a *naive* datetime for that form, so the colon is removed first
  and the time stays KST-aware. Maeil items carry an article number ``<no>``.
- Feeds are UTF-8 today but EUC-KR payloads exist: the body is decoded here (charset of the
  ``Content-Type``, then the XML prolog, then UTF-8, then CP949, the superset of EUC-KR) and handed to
  feedparser as UTF-8, so a wrong declaration cannot turn Korean into mojibake.
- A feed holds only the newest ~30-50 items: the asset polls every 10 minutes.
"""

from __future__ import annotations

import codecs
import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal
from xml.sax import SAXException

import feedparser
import httpx
from pydantic import BaseModel, ValidationError

from stock_insights import clock
from stock_insights.clients.dates import parse_pub_date
from stock_insights.clients.errors import SourceDataError, SourceError
from stock_insights.clients.transport import Transport, UpstreamClient
from stock_insights.text.clean import entity_text, html_text, meaningful
from stock_insights.text.items import NewsBatch, NewsItem, SkipLog, is_future
from stock_insights.text.urls import InvalidUrl

log = logging.getLogger(__name__)

FeedSource = Literal["hankyung", "maeil"]
SOURCE_NAMES: dict[str, str] = {"hankyung": "Hankyung RSS", "maeil": "Maeil RSS"}
ACCEPT = "application/rss+xml, application/xml;q=0.9, */*;q=0.5"
USER_AGENT = "stock_insights/0.1 (+https://github.com/stock_insights; RSS reader)"

_PROLOG = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._\-]+)[\"']", re.IGNORECASE)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._\-]+)", re.IGNORECASE)
_ALIASES = {"euc-kr": "cp949", "euc_kr": "cp949", "ks_c_5601-1987": "cp949", "ksc5601": "cp949"}


class FeedPage(BaseModel):
    url: str
    title: str | None
    encoding: str
    raw_items: int
    items: list[NewsItem]


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    name = _ALIASES.get(name.strip().lower(), name.strip().lower())
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_feed(content: bytes, content_type: str | None = None) -> tuple[str, str]:
    """(text, encoding used). Declared encodings first, then UTF-8, then CP949."""
    header = _CHARSET.search(content_type or "")
    prolog = _PROLOG.match(content[:200])
    candidates = [
        _codec(header.group(1)) if header else None,
        _codec(prolog.group(1).decode("ascii")) if prolog else None,
        "utf-8",
        "cp949",
    ]
    for name in dict.fromkeys(c for c in candidates if c):
        try:
            return content.decode(name), name
        except UnicodeDecodeError:
            continue
    raise SourceDataError("RSS", "body is neither in its declared encoding, UTF-8 nor EUC-KR/CP949")


def _as_utf8_document(text: str) -> bytes:
    """The document re-declared as UTF-8 (its prolog may still name the original encoding)."""
    text = text.lstrip("\ufeff")
    text = re.sub(r"^(\s*<\?xml[^>]*?encoding\s*=\s*[\"'])[A-Za-z0-9._\-]+([\"'])", r"\1utf-8\2", text, count=1)
    return text.encode("utf-8")


def parse_feed(
    content: bytes,
    *,
    source: FeedSource,
    feed_url: str,
    fetched_at: datetime,
    content_type: str | None = None,
    skips: SkipLog | None = None,
) -> FeedPage:
    """Typed items of one feed body. Not-well-formed XML or a body that is no feed raises
    ``SourceDataError``; a bad item is skipped and counted in ``skips``."""
    skips = skips if skips is not None else SkipLog()
    parsed, encoding = _parse_document(content, content_type, SOURCE_NAMES[source], feed_url)
    items: list[NewsItem] = []
    for index, entry in enumerate(parsed.entries):
        item = _feed_item(entry, f"{feed_url} #{index + 1}", source=source, feed_url=feed_url,
                          fetched_at=fetched_at, skips=skips)
        if item is not None:
            items.append(item)
    channel_title = (entity_text(parsed.feed.get("title")) or None) if parsed.get("feed") else None
    return FeedPage(url=feed_url, title=channel_title, encoding=encoding, raw_items=len(parsed.entries), items=items)


def _parse_document(content: bytes, content_type: str | None, name: str, feed_url: str) -> tuple[Any, str]:
    """(feedparser result, encoding used). feedparser is lenient and answers something for any body,
    so malformed XML and bodies that are no feed are refused here rather than read as an empty feed."""
    text, encoding = decode_feed(content, content_type)
    # Descriptions are read by ``html_text`` and nothing is rendered as HTML, so feedparser's sanitiser
    # and relative-URI resolution would only cost time (about a third of the parse).
    parsed = feedparser.parse(_as_utf8_document(text), sanitize_html=False, resolve_relative_uris=False)
    problem = parsed.get("bozo_exception")
    if parsed.get("bozo") and isinstance(problem, SAXException):
        raise SourceDataError(name, f"{feed_url}: malformed XML ({problem})")
    if not parsed.get("version") and not parsed.entries:
        raise SourceDataError(name, f"{feed_url}: the body is not an RSS or Atom feed")
    return parsed, encoding


def _entry_fields(entry: Any, where: str, fetched_at: datetime, skips: SkipLog) -> tuple[str, str, datetime] | None:
    """(title, link, published) of an entry, or None (counted by reason in ``skips``) when one is
    missing or unusable, so one bad entry costs only itself."""
    # Titles carry entities (even inside CDATA) but no markup; descriptions may be HTML.
    title = entity_text(entry.get("title"))
    if not meaningful(title):
        skips.skip("empty_title", where)
        return None
    link = str(entry.get("link") or "").strip()
    if not link:
        skips.skip("no_link", f"{where} {title[:40]}")
        return None
    raw_date = entry.get("published") or entry.get("updated")
    published = parse_pub_date(raw_date)
    if published is None:
        skips.skip("no_date" if not raw_date else "bad_date", f"{where} {raw_date!r}")
        return None
    if is_future(published, fetched_at):
        skips.skip("future_dated", f"{where} {published.isoformat()}")
        return None
    return title, link, published


def _feed_item(
    entry: Any, where: str, *, source: FeedSource, feed_url: str, fetched_at: datetime, skips: SkipLog
) -> NewsItem | None:
    """One entry as a ``NewsItem`` (the link is its id: these feeds carry no ``guid``), or None
    (counted in ``skips``) when a field or the URL is unusable."""
    fields = _entry_fields(entry, where, fetched_at, skips)
    if fields is None:
        return None
    title, link, published = fields
    number = str(entry.get("no") or "").strip() or None
    try:
        return NewsItem.build(
            source=source,
            url=link,
            source_item_id=number,
            title=title,
            summary=html_text(entry.get("summary")) or None,
            published_at=published,
            fetched_at=fetched_at,
            channel=feed_url,
        )
    except InvalidUrl as exc:
        skips.skip("bad_link", f"{where} {exc}")
    except (ValidationError, ValueError) as exc:
        skips.skip("invalid_item", f"{where} {exc}")
    return None


class RssClient(UpstreamClient):
    """Fetches and parses the feeds of one newspaper."""

    def __init__(
        self,
        source: FeedSource,
        *,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        max_attempts: int = 3,
        user_agent: str = USER_AGENT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = clock.now,
    ) -> None:
        self.source = source
        self.name = SOURCE_NAMES[source]
        self._user_agent = user_agent
        self._clock = clock
        self._transport = Transport(
            self.name, http=http, timeout=timeout, follow_redirects=True, max_attempts=max_attempts, sleep=sleep
        )

    def _download(self, url: str) -> httpx.Response:
        return self._transport.send("GET", url, what=url, headers={"User-Agent": self._user_agent, "Accept": ACCEPT})

    def fetch_feed(self, url: str, *, skips: SkipLog | None = None) -> FeedPage:
        response = self._download(url)
        return parse_feed(
            response.content,
            source=self.source,
            feed_url=url,
            fetched_at=self._clock(),
            content_type=response.headers.get("content-type"),
            skips=skips,
        )

    def fetch(self, urls: Sequence[str]) -> NewsBatch:
        """Every feed in ``urls``; a failing feed is recorded in ``errors`` and the others go on.
        Raises only when every feed failed."""
        batch = NewsBatch(source=self.source)
        skips = SkipLog()
        failures: list[SourceError] = []
        unique = list(dict.fromkeys(u.strip() for u in urls if u.strip()))
        for url in unique:
            try:
                page = self.fetch_feed(url, skips=skips)
            except SourceError as exc:
                failures.append(exc)
                batch.errors.append(str(exc))
                log.warning("%s", exc)
                continue
            batch.items.extend(page.items)
        batch.requests = self.stats["requests"]
        batch.absorb(skips)
        if unique and len(failures) == len(unique):
            raise failures[-1]
        return batch
