"""News ingest: 100,000 sandbox-style articles (20 % duplicates) through parse, dedupe, link and upsert,
on SQLite and PostgreSQL.

    python benchmarks/news_ingest.py [--items 100000] [--batch 5000] [--backends sqlite,postgresql]
                                     [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

The sandbox's newsroom writes the stories; they are rendered in the real wire formats (Naver
``news.json`` pages of 100, Hankyung and Maeil RSS documents of 50, Maeil's economy feed in EUC-KR) and
the timed part is what a run does: the clients' parsers, ``text.dedupe`` grouping, ``StockLinker`` and
``corpus.store.ingest_news`` in batches of ``--batch`` items (one transaction each, like one
asset run). 80 % of the items are distinct stories; the other 20 % repeat one of them:
- the paper's own feed item for a story Naver carried (same URL, Naver's copy with ``utm_*``),
- a Naver re-delivery of a story hours later (same URL and headline, a later page),
- a wire-service copy (another URL, the same headline and text): found only by the content hash.
Duplicates land in the same batch and in later batches.

Printed per backend: items/s over the timed part, new articles, and the duplicate count left: stories
stored as more than one article (goal 0); plus the opposite error, distinct stories that ended up in
one article (two different stories of one stock with the very same headline within the 12-hour
content-hash window — rare in the newsroom, and indistinguishable by text).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import select
from sqlalchemy.engine import make_url

from stock_insights.clients.naver import parse_search_page
from stock_insights.clients.rss import parse_feed
from stock_insights.corpus.store import ingest_news, linker_for_stocks
from stock_insights.market.store import upsert_stocks
from stock_insights.sandbox.market import SimulatedMarket
from stock_insights.sandbox.naver import Listed, naver_json, story_item
from stock_insights.sandbox.newsroom import Newsroom, Story
from stock_insights.sandbox.rss import FEEDS, render_feed
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.migrate import upgrade
from stock_insights.storage.models import NewsArticle, NewsArticleSource
from stock_insights.text.items import NewsItem, SkipLog
from stock_insights.text.urls import canonical_url
from stock_insights.universe import KNOWN_LISTINGS

FETCHED = datetime(2026, 10, 16, 0, 0, tzinfo=UTC)
LAST_DAY = date(2026, 10, 15)


# --- the workload (not timed) -----------------------------------------------------------------
def stories(unique: int) -> tuple[list[Story], list[Story]]:
    """(distinct stories, wire copies available), newest days first."""
    newsroom = Newsroom(SimulatedMarket())
    originals: list[Story] = []
    copies: list[Story] = []
    day = LAST_DAY
    while len(originals) < unique:
        for story in newsroom.stories(day):
            (copies if story.syndicated_from else originals).append(story)
        day -= timedelta(days=1)
    return originals[:unique], copies


class Delivery:
    """One item on the wire: a story through a channel."""

    def __init__(self, story: Story, channel: str, truth: str, pub_shift: int = 0) -> None:
        self.story, self.channel, self.truth, self.pub_shift = story, channel, truth, pub_shift


def workload(total: int, duplicate_share: float, seed: int = 7) -> tuple[list[Delivery], dict[str, str]]:
    rng = random.Random(seed)
    n_unique = round(total * (1 - duplicate_share))
    originals, copies = stories(n_unique)
    truth = {canonical_url(s.url): s.story_id for s in originals}
    # Distinct stories: papers' stories come through their feed or Naver, the rest through Naver.
    first: list[Delivery] = []
    for story in originals:
        paper = story.publisher in ("hankyung", "maeil")
        first.append(Delivery(story, rng.choice(["naver", "rss"]) if paper else "naver", story.story_id))
    dups: list[Delivery] = []
    by_id = {s.story_id: s for s in originals}
    usable_copies = [c for c in copies if c.syndicated_from in by_id]
    papers = [d for d in first if d.story.publisher in ("hankyung", "maeil")]
    n_dup = total - n_unique
    for i in range(n_dup):
        kind = i % 3
        if kind == 0 and papers:  # the other channel of a paper's story
            d = rng.choice(papers)
            dups.append(Delivery(d.story, "rss" if d.channel == "naver" else "naver", d.truth))
        elif kind == 1:  # a Naver re-delivery hours later
            d = rng.choice(first)
            dups.append(Delivery(d.story, "naver", d.truth, pub_shift=rng.randint(60, 240)))
        else:  # a wire copy: another URL, the same text
            copy = rng.choice(usable_copies)
            truth[canonical_url(copy.url)] = copy.syndicated_from or copy.story_id
            dups.append(Delivery(copy, "naver", copy.syndicated_from or copy.story_id))
    everything = first + dups
    rng.shuffle(everything)
    return everything, truth


def render(batch: list[Delivery]) -> list[tuple[str, object, str]]:
    """The batch as wire payloads: ("naver", page dict as JSON text, query) / ("rss", bytes, source)."""
    payloads: list[tuple[str, object, str]] = []
    naver = [d for d in batch if d.channel == "naver"]
    for start in range(0, len(naver), 100):
        page = naver[start : start + 100]
        items = [story_item(Listed(d.story, d.story.published_at + timedelta(minutes=d.pub_shift + 2)), "")
                 for d in page]
        body = {"lastBuildDate": "Fri, 16 Oct 2026 09:00:00 +0900", "total": len(items), "start": 1,
                "display": len(items), "items": items}
        payloads.append(("naver", naver_json(body), "benchmark"))
    by_feed: dict[str, list[Story]] = defaultdict(list)
    for d in batch:
        if d.channel == "rss":
            path = ("/feed/finance" if d.story.publisher == "hankyung" else "/rss/50200011/") \
                if d.story.section == "stock" else \
                ("/feed/economy" if d.story.publisher == "hankyung" else "/rss/30100041/")
            by_feed[path].append(d.story)
    for path, feed_stories in by_feed.items():
        feed = FEEDS[path]
        for start in range(0, len(feed_stories), 50):
            text = render_feed(feed, feed_stories[start : start + 50], FETCHED)
            data = text.encode("cp949" if feed.encoding == "euc-kr" else "utf-8", errors="xmlcharrefreplace")
            payloads.append(("rss", data, f"{feed.paper}|{path}"))
    return payloads


# --- the timed part ---------------------------------------------------------------------------
def parse(payloads: list[tuple[str, object, str]], skips: SkipLog) -> list[NewsItem]:
    items: list[NewsItem] = []
    for kind, payload, label in payloads:
        if kind == "naver":
            page = parse_search_page(json.loads(payload), fetched_at=FETCHED, query=label, skips=skips)  # type: ignore[arg-type]
            items.extend(page.items)
        else:
            source, path = label.split("|")
            feed = parse_feed(payload, source=source, feed_url=path, fetched_at=FETCHED, skips=skips)  # type: ignore[arg-type]
            items.extend(feed.items)
    return items


def run(url: str, deliveries: list[Delivery], truth: dict[str, str], batch_size: int) -> dict[str, float]:
    engine = make_engine(url)
    upgrade(url, engine)
    with session_scope(engine) as session:
        upsert_stocks(session, list(KNOWN_LISTINGS.values()))
    batches = [deliveries[i : i + batch_size] for i in range(0, len(deliveries), batch_size)]
    rendered = [render(b) for b in batches]
    skips = SkipLog()
    new = received = 0
    started = time.perf_counter()
    for payloads in rendered:
        items = parse(payloads, skips)
        with session_scope(engine) as session:
            result = ingest_news(session, items, linker_for_stocks(session))
        new += result.new_articles
        received += result.received
    elapsed = time.perf_counter() - started

    # Which stories ended up in which articles (through every URL an article holds).
    stories_of: dict[int, set[str]] = defaultdict(set)
    with session_scope(engine) as session:
        for article_id, url_ in session.execute(select(NewsArticle.id, NewsArticle.canonical_url)):
            if url_ in truth:
                stories_of[article_id].add(truth[url_])
        for article_id, url_ in session.execute(select(NewsArticleSource.article_id, NewsArticleSource.canonical_url)):
            if url_ in truth:
                stories_of[article_id].add(truth[url_])
    articles_per_story: dict[str, int] = defaultdict(int)
    for ids in stories_of.values():
        for story_id in ids:
            articles_per_story[story_id] += 1
    engine.dispose()
    distinct = len({d.truth for d in deliveries})
    return {
        "merged_away": distinct - len(articles_per_story),
        "items": received,
        "seconds": elapsed,
        "per_second": received / elapsed,
        "new_articles": new,
        "stories": len(articles_per_story),
        "duplicates_left": sum(n - 1 for n in articles_per_story.values()),
        "over_merged": sum(1 for ids in stories_of.values() if len(ids) > 1),
        "skipped": skips.total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--duplicates", type=float, default=0.2)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    t0 = time.perf_counter()
    deliveries, truth = workload(args.items, args.duplicates)
    distinct = len({d.truth for d in deliveries})
    print(f"workload: {len(deliveries):,} items, {distinct:,} distinct stories, "
          f"{len(deliveries) - distinct:,} duplicates ({time.perf_counter() - t0:.1f} s to generate, not timed)")
    for backend in args.backends.split(","):
        if backend == "sqlite":
            url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'news_ingest.db'}"
            figures = run(url, deliveries, truth, args.batch)
        else:
            name = f"bench_news_{uuid.uuid4().hex[:8]}"
            server = make_url(args.postgres)
            libpq = server.set(drivername="postgresql").render_as_string(hide_password=False)
            with psycopg.connect(libpq, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                figures = run(server.set(database=name).render_as_string(hide_password=False), deliveries, truth,
                              args.batch)
            finally:
                with psycopg.connect(libpq, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        print(f"{backend:>10}: {figures['items']:,.0f} items in {figures['seconds']:.1f} s = "
              f"{figures['per_second']:,.0f} articles/s; {figures['new_articles']:,.0f} articles for "
              f"{figures['stories']:,.0f} stories; duplicates left {figures['duplicates_left']:.0f} (goal 0), "
              f"over-merged {figures['over_merged']:.0f} (+{figures['merged_away']:.0f} stories folded into another "
              f"by an identical headline within 12 h), skipped {figures['skipped']:.0f}")


if __name__ == "__main__":
    main()

