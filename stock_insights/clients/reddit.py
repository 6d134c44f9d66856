"""Reddit client: application-only OAuth, then ``/r/<sub>/new`` listings paged by ``after``.

Protocol facts this code relies on (../shared/reference/sources.md section 5):
- Unauthenticated JSON is blocked (403 HTML "whoa there, pardner!"), so without
  ``REDDIT_CLIENT_ID``/``REDDIT_CLIENT_SECRET`` the fetch is *skipped* with a clear message, not failed.
- Token: ``POST REDDIT_AUTH_URL`` with HTTP Basic ``client_id:client_secret`` and
  ``grant_type=client_credentials`` → ``{"access_token", "token_type": "bearer", "expires_in", "scope"}``.
- Listings: ``GET {REDDIT_BASE_URL}/r/<sub>/new?limit=100&after=<fullname>&raw_json=1`` with
  ``Authorization: bearer <token>``; ``data.after`` is null on the last page; ``created_utc`` is
  float epoch seconds (UTC); ``permalink`` is site-relative; ``raw_json=1`` returns ``& < >`` unescaped.
- Every request carries a User-Agent of the form ``<platform>:<app ID>:<version> (by /u/<name>)``;
  default library agents are throttled hard.
- Budget: 100 requests a minute per client id. ``X-Ratelimit-Remaining`` / ``X-Ratelimit-Reset``
  (seconds to the end of the window) are honoured: when the budget is spent the client waits for
  the reset if it is short, and otherwise stops with a *partial* batch. HTTP 429 is handled the same way.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from stock_insights import clock
from stock_insights.clients.base_url import service_root
from stock_insights.clients.errors import SourceAuthError, SourceDataError, SourceError
from stock_insights.clients.ratelimit import SlidingWindowLimiter
from stock_insights.clients.transport import (
    Call,
    Repeat,
    Retry,
    Transport,
    UpstreamClient,
    json_object,
)
from stock_insights.text.clean import meaningful, plain_body, plain_text
from stock_insights.text.items import NewsBatch, NewsItem, SkipLog, is_future
from stock_insights.text.urls import InvalidUrl

log = logging.getLogger(__name__)

SOURCE = "Reddit"
SITE = "https://www.reddit.com"
REQUESTS_PER_MINUTE = 100
LISTING_LIMIT = 100
MAX_PAGES = 10  # listings end around 1,000 items
USER_AGENT_FORMAT = re.compile(r"^[^:\s]+:[^:\s]+:[^:\s]+ \(by /u/[A-Za-z0-9_-]+\)$")
_SUBREDDIT = re.compile(r"^[A-Za-z0-9_]{2,21}$")
_REMOVED = ("[deleted]", "[removed]")


class RateBudgetExhausted(SourceError):
    """The per-minute budget is spent and its reset is too far away to wait for."""

    retryable = True


def _listing_envelope(payload: Any, subreddit: str) -> tuple[list[Any], str | None]:
    """(children, after) of a Listing; a bad envelope raises."""
    if not isinstance(payload, dict) or payload.get("kind") != "Listing" or not isinstance(payload.get("data"), dict):
        raise SourceDataError(SOURCE, f"r/{subreddit}: answer is not a Listing")
    data = payload["data"]
    children = data.get("children")
    if not isinstance(children, list):
        raise SourceDataError(SOURCE, f"r/{subreddit}: Listing has no children list")
    after = data.get("after")
    if after is not None and not isinstance(after, str):
        raise SourceDataError(SOURCE, f"r/{subreddit}: 'after' is not a string or null")
    return children, after


def _is_link_post(post: dict[str, Any], external: str) -> bool:
    return (
        not post.get("is_self")
        and external.startswith(("http://", "https://"))
        and ("reddit.com" not in external and "redd.it" not in external)
    )


def _post_item(
    post: dict[str, Any], published: datetime, *, where: str, subreddit: str, fetched_at: datetime, skips: SkipLog
) -> NewsItem | None:
    """The item of one dated post, or None (skipped and counted in ``skips``)."""
    name = str(post.get("name") or "")
    if post.get("removed_by_category") or post.get("selftext") in _REMOVED or post.get("author") == "[deleted]":
        # Reddit's terms: deleted content must not be kept.
        skips.skip("deleted", f"{where} {name}")
        return None
    # raw_json=1: the title and body are the author's text (a '<' is a '<'); nothing is unescaped or stripped.
    title = plain_text(post.get("title") if isinstance(post.get("title"), str) else None)
    if not meaningful(title):
        skips.skip("empty_title", f"{where} {name}")
        return None
    permalink = str(post.get("permalink") or "").strip()
    if not permalink.startswith("/r/") or not name.startswith("t3_"):
        skips.skip("no_link", f"{where} {name}")
        return None
    if is_future(published, fetched_at):
        skips.skip("future_dated", f"{where} {published.isoformat()}")
        return None
    post_url = f"{SITE}{permalink}"
    external = str(post.get("url") or "").strip()
    selftext = post.get("selftext") if isinstance(post.get("selftext"), str) else ""
    try:
        return NewsItem.build(
            source="reddit",
            # A link post is about the linked article: it meets that article's other sources.
            url=external if _is_link_post(post, external) else post_url,
            source_url=post_url,
            source_item_id=name,
            title=title,
            body=plain_body(selftext) or None,
            published_at=published,
            fetched_at=fetched_at,
            channel=f"r/{subreddit}",
        )
    except InvalidUrl as exc:
        skips.skip("bad_link", f"{where} {exc}")
    except (ValidationError, ValueError) as exc:
        skips.skip("invalid_item", f"{where} {exc}")
    return None


def parse_listing(
    payload: Any, *, subreddit: str, fetched_at: datetime, skips: SkipLog
) -> tuple[list[NewsItem], str | None, list[float]]:
    """(items, after, created_utc of every post) of one Listing. A bad envelope raises."""
    children, after = _listing_envelope(payload, subreddit)
    items: list[NewsItem] = []
    created: list[float] = []
    for index, child in enumerate(children):
        where = f"r/{subreddit} #{index + 1}"
        post = child.get("data") if isinstance(child, dict) and child.get("kind") == "t3" else None
        if not isinstance(post, dict):
            skips.skip("not_a_post", where)
            continue
        try:
            created_utc = float(post["created_utc"])
            published = datetime.fromtimestamp(created_utc, tz=UTC)
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            skips.skip("no_date", f"{where} {post.get('name') or ''}")
            continue
        created.append(created_utc)
        item = _post_item(post, published, where=where, subreddit=subreddit, fetched_at=fetched_at, skips=skips)
        if item is not None:
            items.append(item)
    return items, after, created


class RedditClient(UpstreamClient):
    """Application-only Reddit client. ``configured`` is False without credentials."""

    def __init__(
        self,
        auth_url: str,
        base_url: str,
        client_id: SecretStr,
        client_secret: SecretStr,
        user_agent: str,
        *,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        max_attempts: int = 3,
        requests_per_minute: int = REQUESTS_PER_MINUTE,
        max_wait_seconds: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = clock.now,
    ) -> None:
        self.auth_url = auth_url.strip()
        self.base_url = service_root(base_url)
        self._client_id = client_id
        self._client_secret = client_secret
        self.user_agent = user_agent.strip()
        self._max_wait = max_wait_seconds
        self._clock = clock
        self._token: str | None = None
        self._token_expires: float = 0.0
        self.rate_headers: dict[str, str] = {}
        limiter = SlidingWindowLimiter(requests_per_minute, 60.0)
        self._transport = Transport(SOURCE, http=http, timeout=timeout, limiter=limiter, max_attempts=max_attempts,
                                    sleep=sleep, counters=["rate_limited", "tokens"])

    @property
    def configured(self) -> bool:
        return bool(self._client_id.get_secret_value() and self._client_secret.get_secret_value())

    # ---- token ---------------------------------------------------------------------------------
    def _access_token(self, *, force: bool = False) -> str:
        if self._token and not force and time.monotonic() < self._token_expires - 60:
            return self._token
        if not self.configured:
            raise SourceAuthError(SOURCE, "REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET are not set")
        return self._transport.send(
            "POST",
            self.auth_url,
            what="token endpoint",
            classify=self._token_answer,
            data={"grant_type": "client_credentials"},
            auth=(self._client_id.get_secret_value(), self._client_secret.get_secret_value()),
            headers={"User-Agent": self.user_agent},
        )

    def _token_answer(self, response: httpx.Response, call: Call) -> str | Retry:
        if response.status_code in (400, 401, 403):
            raise SourceAuthError(
                SOURCE, "token request refused (check the client id and secret)", status=response.status_code
            )
        payload = json_object(response)
        if response.status_code != 200 or payload is None:
            return Retry(f"answered HTTP {response.status_code}")
        if payload.get("error"):
            raise SourceAuthError(SOURCE, f"token refused: {payload.get('error')}")
        token = payload.get("access_token")
        if not isinstance(token, str) or not token:
            raise SourceDataError(SOURCE, "token answer has no access_token")
        try:
            lifetime = float(payload.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        self._token = token
        self._token_expires = time.monotonic() + lifetime
        self._transport.count("tokens")
        return token

    # ---- listings --------------------------------------------------------------------------------
    def _respect_budget(self, response: httpx.Response) -> None:
        headers = {
            k: response.headers[k]
            for k in ("x-ratelimit-used", "x-ratelimit-remaining", "x-ratelimit-reset")
            if k in response.headers
        }
        self.rate_headers = headers
        try:
            remaining = float(headers.get("x-ratelimit-remaining", "nan"))
            reset = float(headers.get("x-ratelimit-reset", "0"))
        except ValueError:
            return
        if remaining == remaining and remaining < 1:  # not NaN and spent
            self._transport.sleep(self._reset_wait(reset))

    def _reset_wait(self, reset: float) -> float:
        """Seconds to wait for the budget's reset; raises when the reset is too far away."""
        if reset > self._max_wait:
            raise RateBudgetExhausted(SOURCE, f"request budget spent; it resets in {reset:.0f} s")
        log.info("Reddit request budget spent; waiting %.0f s for the reset", reset)
        return max(reset, 0.0) + 0.5

    def _auth_headers(self) -> dict[str, Any]:
        return {"headers": {"Authorization": f"bearer {self._access_token()}", "User-Agent": self.user_agent}}

    def _listing(self, subreddit: str, after: str | None, limit: int) -> dict[str, Any]:
        params: dict[str, str | int] = {"limit": limit, "raw_json": 1}
        if after:
            params["after"] = after
        return self._transport.send(
            "GET",
            f"{self.base_url}/r/{subreddit}/new",
            what=f"r/{subreddit}",
            classify=self._listing_answer,
            prepare=self._auth_headers,
            params=params,
        )

    def _listing_answer(self, response: httpx.Response, call: Call) -> Any:
        status = response.status_code
        if status == 200:
            self._respect_budget(response)
            try:
                return response.json()
            except ValueError:
                return Retry("answered malformed JSON with HTTP 200")
        if status == 429:
            self._transport.count("rate_limited")
            try:
                reset = float(response.headers.get("x-ratelimit-reset", "10"))
            except ValueError:
                reset = 10.0
            if call.tally("rate_limited") > 3:
                raise RateBudgetExhausted(SOURCE, "still rate limited (429) after 3 waits", status=429)
            return Repeat(self._reset_wait(reset))
        if status == 401 and not call.counts["refreshed"]:
            call.tally("refreshed")
            self._access_token(force=True)
            return Repeat()
        if status in (401, 403):
            raise SourceAuthError(SOURCE, f"{call.what} refused the request", status=status)
        return self._transport.refuse_or_retry(response, call)

    def fetch_new(
        self,
        subreddits: Sequence[str],
        *,
        known_ids: Collection[str] = (),
        since: datetime | None = None,
        max_pages: int = MAX_PAGES,
        limit: int = LISTING_LIMIT,
    ) -> NewsBatch:
        """Newest posts of each subreddit, paging by ``after`` until a post we already have
        (``known_ids`` holds fullnames), a post older than ``since``, ``after`` null or ``max_pages``."""
        batch = NewsBatch(source="reddit")
        if not self.configured:
            batch.status = "skipped"
            batch.message = "Reddit skipped: REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET are not set"
            return batch
        self._require_user_agent()
        skips = SkipLog()
        subs = _subreddit_names(subreddits)
        failures: list[SourceError] = []
        stop_at = _StopAt(known_ids, since.timestamp() if since is not None else None)
        for sub in subs:
            if not _SUBREDDIT.match(sub):
                batch.errors.append(f"r/{sub}: not a subreddit name")
                failures.append(SourceError(SOURCE, f"r/{sub}: not a subreddit name"))
                continue
            try:
                self._page_subreddit(sub, stop_at, batch.items, skips, max_pages=max_pages, limit=limit)
            except RateBudgetExhausted as exc:
                batch.status = "partial"
                batch.message = f"request budget spent at r/{sub}: {exc}"
                break
            except SourceAuthError:
                raise
            except SourceError as exc:
                failures.append(exc)
                batch.errors.append(str(exc))
                log.warning("%s", exc)
        batch.requests = self.stats["requests"]
        batch.absorb(skips)
        if subs and len(failures) == len(subs):
            raise failures[-1]
        return batch

    def _require_user_agent(self) -> None:
        """Reddit throttles or blocks generic user agents, so a malformed one fails before any request."""
        if not USER_AGENT_FORMAT.match(self.user_agent):
            raise SourceError(
                SOURCE,
                f"REDDIT_USER_AGENT {self.user_agent!r} is not of the form "
                "'<platform>:<app ID>:<version> (by /u/<name>)'",
            )

    def _page_subreddit(
        self, sub: str, stop_at: _StopAt, into: list[NewsItem], skips: SkipLog, *, max_pages: int, limit: int
    ) -> None:
        """Pages of r/``sub``'s new listing, newest first, appended to ``into`` page by page (so a
        failure on a later page keeps the earlier ones) until ``stop_at``, ``after`` null or ``max_pages``."""
        after: str | None = None
        for _page in range(max_pages):
            payload = self._listing(sub, after, limit)
            items, after, created = parse_listing(payload, subreddit=sub, fetched_at=self._clock(), skips=skips)
            kept, reached = stop_at.split(items)
            into.extend(kept)
            if reached or stop_at.page_reached(created) or not after:
                break


def _subreddit_names(subreddits: Sequence[str]) -> list[str]:
    """Names without blanks, the ``r/`` prefix or repeats, in the order given."""
    return list(dict.fromkeys(s.strip().removeprefix("r/") for s in subreddits if s.strip()))


@dataclass(frozen=True)
class _StopAt:
    """Where paging back through a listing stops: at a post we already have (``known_ids`` holds
    fullnames) or one older than ``cutoff`` (epoch seconds; None: no age limit)."""

    known_ids: Collection[str]
    cutoff: float | None

    def split(self, items: list[NewsItem]) -> tuple[list[NewsItem], bool]:
        """(the posts to keep, whether any post was known or too old). The rest of the page is still
        examined rather than assumed older: the page is not taken to be strictly ordered."""
        kept: list[NewsItem] = []
        reached = False
        for item in items:
            if item.source_item_id in self.known_ids or self._too_old(item):
                reached = True
                continue
            kept.append(item)
        return kept, reached

    def _too_old(self, item: NewsItem) -> bool:
        return self.cutoff is not None and item.published_at.timestamp() < self.cutoff

    def page_reached(self, created: list[float]) -> bool:
        """Whether the page held a post older than the cutoff, counting posts that were skipped."""
        return self.cutoff is not None and bool(created) and min(created) < self.cutoff
