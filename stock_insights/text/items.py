"""The typed news row every news client returns, and the report of one fetch.

A ``NewsItem`` is one item as one source showed it, already keyed for deduplication
(``canonical_url``, ``content_hash``). ``SkipLog`` counts the items a client dropped and why, so a
bad item costs one counted skip and never the rest of the batch.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from stock_insights.text.clean import has_hangul
from stock_insights.text.hashing import content_hash
from stock_insights.text.urls import canonical_url

NewsSource = Literal["naver", "hankyung", "maeil", "reddit"]
NEWS_SOURCES: tuple[NewsSource, ...] = ("naver", "hankyung", "maeil", "reddit")
BatchStatus = Literal["ok", "partial", "skipped"]

# Clocks disagree by seconds, and feeds round to the minute; beyond this an item is future-dated.
FUTURE_TOLERANCE = timedelta(minutes=5)


class SkipLog:
    """Counts of skipped items by reason, with a few examples for the run's metadata."""

    def __init__(self, max_examples: int = 10) -> None:
        self.counts: Counter[str] = Counter()
        self.examples: list[str] = []
        self._max = max_examples

    def skip(self, reason: str, detail: str = "") -> None:
        self.counts[reason] += 1
        if len(self.examples) < self._max:
            self.examples.append(f"{reason}: {detail[:160]}" if detail else reason)

    def merge(self, other: SkipLog) -> None:
        self.counts.update(other.counts)
        room = self._max - len(self.examples)
        if room > 0:
            self.examples.extend(other.examples[:room])

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class NewsItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: NewsSource
    source_url: str  # the link as the source gave it (Naver: its own link; Reddit: the permalink)
    source_item_id: str | None = None  # Reddit fullname, Maeil ``no``, Naver oid/aid; feeds without ids: None
    url: str  # the article's own URL (Naver: originallink), what canonicalises
    canonical_url: str
    title: str = Field(min_length=1)
    summary: str | None = None  # snippets and feed descriptions: shown, not hashed
    body: str | None = None
    published_at: AwareDatetime
    fetched_at: AwareDatetime
    language: str = "ko"
    content_hash: str
    channel: str | None = None  # the query, feed URL or subreddit that returned the item

    @field_validator("published_at", "fetched_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @classmethod
    def build(
        cls,
        *,
        source: NewsSource,
        url: str,
        title: str,
        published_at: datetime,
        fetched_at: datetime,
        source_url: str | None = None,
        source_item_id: str | None = None,
        summary: str | None = None,
        body: str | None = None,
        channel: str | None = None,
        language: str | None = None,
    ) -> NewsItem:
        """Key an item for deduplication. Raises ``InvalidUrl`` or ``ValueError`` for a bad item."""
        canonical = canonical_url(url)
        return cls(
            source=source,
            source_url=(source_url or url).strip(),
            source_item_id=source_item_id,
            url=url.strip(),
            canonical_url=canonical,
            title=title,
            summary=summary or None,
            body=body or None,
            published_at=published_at,
            fetched_at=fetched_at,
            language=language or ("ko" if has_hangul(title + (body or "")) else "en"),
            content_hash=content_hash(title, body),
            channel=channel,
        )


class NewsBatch(BaseModel):
    """What one news fetch produced: the items, what was skipped and whether it is complete."""

    source: NewsSource
    status: BatchStatus = "ok"
    items: list[NewsItem] = Field(default_factory=list)
    skipped: dict[str, int] = Field(default_factory=dict)
    skip_examples: list[str] = Field(default_factory=list)
    message: str | None = None  # why partial or skipped
    errors: list[str] = Field(default_factory=list)  # channels that failed without stopping the batch
    requests: int = 0

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def absorb(self, log: SkipLog) -> None:
        counts = Counter(self.skipped)
        counts.update(log.counts)
        self.skipped = dict(counts)
        self.skip_examples = (self.skip_examples + log.examples)[:10]


def is_future(published_at: datetime, fetched_at: datetime) -> bool:
    return published_at > fetched_at + FUTURE_TOLERANCE
