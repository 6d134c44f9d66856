"""The Reddit client against the sandbox: OAuth, after-paging, rate-limit headers, skips."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from stock_insights.clients.errors import SourceError
from stock_insights.clients.reddit import RedditClient
from stock_insights_tests.news.conftest import REDDIT_ID, REDDIT_SECRET, USER_AGENT, add_fault


def client(url: str, *, client_id: str = REDDIT_ID, secret: str = REDDIT_SECRET, agent: str = USER_AGENT
           ) -> RedditClient:
    sleeps: list[float] = []
    reddit = RedditClient(f"{url}/api/v1/access_token", url, SecretStr(client_id), SecretStr(secret), agent,
                          sleep=sleeps.append)
    reddit.sleeps = sleeps  # type: ignore[attr-defined]
    return reddit


def test_without_credentials_the_fetch_is_skipped(sandbox_url: str) -> None:
    with client(sandbox_url, client_id="", secret="") as reddit:
        batch = reddit.fetch_new(["korea"])
    assert batch.status == "skipped" and "REDDIT_CLIENT_ID" in (batch.message or "")
    assert reddit.stats["requests"] == 0


def test_listings_page_by_after_and_report_the_budget(sandbox_url: str) -> None:
    with client(sandbox_url) as reddit:
        batch = reddit.fetch_new(["korea"], limit=20, max_pages=3)
        assert reddit.stats["tokens"] == 1 and reddit.stats["requests"] == 4  # token + 3 pages
        assert reddit.rate_headers["x-ratelimit-remaining"] and reddit.rate_headers["x-ratelimit-reset"]
    ids = [i.source_item_id for i in batch.items]
    assert len(ids) == 60 == len(set(ids)) and all(i and i.startswith("t3_") for i in ids)
    times = [i.published_at for i in batch.items]
    assert times == sorted(times, reverse=True)  # /new is newest first across pages
    link_posts = [i for i in batch.items if "hankyung.com" in i.url]
    assert link_posts and all("utm_" not in i.canonical_url for i in link_posts)
    assert all(i.source_url.startswith("https://www.reddit.com/r/korea/comments/") for i in batch.items)


def test_stops_at_known_posts(sandbox_url: str) -> None:
    with client(sandbox_url) as reddit:
        first = reddit.fetch_new(["stocks"], limit=10, max_pages=2)
        known = {i.source_item_id for i in first.items[3:]}
        again = reddit.fetch_new(["stocks"], known_ids=known, limit=10, max_pages=5)  # type: ignore[arg-type]
    assert [i.source_item_id for i in again.items] == [i.source_item_id for i in first.items[:3]]


def test_429_waits_for_the_reset(sandbox_url: str) -> None:
    add_fault(sandbox_url, "/r/investing/new", "rate_limit", seconds=3)
    with client(sandbox_url) as reddit:
        batch = reddit.fetch_new(["investing"], max_pages=1)
    assert batch.status == "ok" and batch.items
    assert reddit.stats["rate_limited"] == 1 and reddit.sleeps[0] == pytest.approx(3.5)  # type: ignore[attr-defined]


def test_bad_posts_are_skipped_and_counted(sandbox_url: str) -> None:
    add_fault(sandbox_url, "/r/korea/new", "bad_items")
    with client(sandbox_url) as reddit:
        batch = reddit.fetch_new(["korea"], max_pages=1)
    assert batch.skipped == {"no_date": 1, "deleted": 1, "empty_title": 1}


def test_unauthenticated_json_is_blocked_and_agents_must_identify(sandbox_url: str) -> None:
    answer = httpx.get(f"{sandbox_url}/r/korea/new.json", headers={"User-Agent": USER_AGENT})
    assert answer.status_code == 403 and "whoa there, pardner!" in answer.text
    reddit = client(sandbox_url, agent="python-httpx/0.28")
    with reddit, pytest.raises(SourceError, match="REDDIT_USER_AGENT"):
        reddit.fetch_new(["korea"])


def test_malformed_listing_fails_that_subreddit_only(sandbox_url: str) -> None:
    add_fault(sandbox_url, "/r/korea/new", "malformed_json", count=5)
    with client(sandbox_url) as reddit:
        batch = reddit.fetch_new(["korea", "stocks"], max_pages=1)
    assert len(batch.errors) == 1 and "r/korea" in batch.errors[0] and batch.items
    assert REDDIT_SECRET not in batch.errors[0]
