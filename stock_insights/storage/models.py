"""The whole relational schema, in SQLAlchemy 2 declarative style.

Conventions:
- Times are timezone-aware and stored in UTC (``UTCDateTime``); trading dates are KST calendar
  dates (``Date``), named ``trading_date``.
- Every table the pipeline writes has a natural key, so that every write is an upsert on it and
  re-running a partition leaves the same rows.
- ``first_seen_at`` is *our* clock: the moment the pipeline first stored an item. Point-in-time
  code filters on it, never on a source's ``published_at``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from stock_insights.storage.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Code = String(6)


class Base(DeclarativeBase):
    # Every model here is mapped to a ``Table`` (SQLAlchemy types ``__table__`` as the wider ``FromClause``).
    __table__: ClassVar[Table]
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


# --------------------------------------------------------------------------------------------
# Universe
# --------------------------------------------------------------------------------------------
class Stock(Base):
    __tablename__ = "stocks"

    code: Mapped[str] = mapped_column(Code, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str | None] = mapped_column(String(200))
    market: Mapped[str] = mapped_column(String(10))  # KOSPI | KOSDAQ
    dart_corp_code: Mapped[str | None] = mapped_column(String(8))
    aliases: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ListingState(Base):
    """A listing's state over ``[valid_from, valid_to)`` as the KIS stock master showed it (issue 15).

    ``universe/stocks`` opens a new row when anything here changes (a rename, a suspension, a
    delisting: ``status`` ``delisted`` from the first day the listing is missing) and closes the
    previous one; rows are never deleted. As of day D: ``valid_from <= D and (valid_to is null or
    valid_to > D)``. ``code`` is the master's short code (ETNs have seven characters).
    """

    __tablename__ = "listing_states"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    valid_from: Mapped[date] = mapped_column(Date, primary_key=True)
    valid_to: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10))  # listed | delisted
    name: Mapped[str] = mapped_column(String(100))
    market: Mapped[str] = mapped_column(String(10))
    security_type: Mapped[str] = mapped_column(String(10))  # common preferred etf etn spac reit other
    group_code: Mapped[str] = mapped_column(String(2))
    standard_code: Mapped[str] = mapped_column(String(12))
    preferred_kind: Mapped[int] = mapped_column(Integer)
    suspended: Mapped[bool] = mapped_column(Boolean)
    administrative: Mapped[bool] = mapped_column(Boolean)
    liquidating: Mapped[bool] = mapped_column(Boolean)
    listed_on: Mapped[date | None] = mapped_column(Date)
    recorded_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_listing_states_valid_to", "valid_to"),
        Index("ix_listing_states_valid_from", "valid_from"),
    )


# --------------------------------------------------------------------------------------------
# Market data (KIS)
# --------------------------------------------------------------------------------------------
class DailyBar(Base):
    """One session's bar. ``adjusted`` keeps adjusted (수정주가) and raw (원주가) series apart."""

    __tablename__ = "daily_bars"

    code: Mapped[str] = mapped_column(Code, ForeignKey("stocks.code"), primary_key=True)
    trading_date: Mapped[date] = mapped_column(Date, primary_key=True)
    adjusted: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    open: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    close: Mapped[float] = mapped_column(Float)
    volume: Mapped[int] = mapped_column(BigInteger)
    trade_value: Mapped[int] = mapped_column(BigInteger)
    revised: Mapped[bool] = mapped_column(Boolean, default=False)  # KIS mod_yn
    source: Mapped[str] = mapped_column(String(20))
    fetched_at: Mapped[datetime]

    __table_args__ = (Index("ix_daily_bars_trading_date", "trading_date"),)


class IndexBar(Base):
    """Market index bars (KIS index codes: 0001 KOSPI, 1001 KOSDAQ)."""

    __tablename__ = "index_bars"

    index_code: Mapped[str] = mapped_column(String(4), primary_key=True)
    trading_date: Mapped[date] = mapped_column(Date, primary_key=True)
    open: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    close: Mapped[float] = mapped_column(Float)
    volume: Mapped[int] = mapped_column(BigInteger)
    trade_value: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(20))
    fetched_at: Mapped[datetime]


class MinuteBar(Base):
    __tablename__ = "minute_bars"

    code: Mapped[str] = mapped_column(Code, ForeignKey("stocks.code"), primary_key=True)
    bar_time: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)  # bar start, UTC
    trading_date: Mapped[date] = mapped_column(Date)
    open: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    close: Mapped[float] = mapped_column(Float)
    volume: Mapped[int] = mapped_column(BigInteger)
    cum_trade_value: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(20))
    fetched_at: Mapped[datetime]

    __table_args__ = (Index("ix_minute_bars_code_trading_date", "code", "trading_date"),)


class OrderBookSnapshot(Base):
    """Ten levels each side; level 1 first. Prices and quantities are parallel lists."""

    __tablename__ = "orderbook_snapshots"

    code: Mapped[str] = mapped_column(Code, ForeignKey("stocks.code"), primary_key=True)
    snapshot_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    ask_prices: Mapped[list[Any]]
    ask_quantities: Mapped[list[Any]]
    bid_prices: Mapped[list[Any]]
    bid_quantities: Mapped[list[Any]]
    total_ask_quantity: Mapped[int] = mapped_column(BigInteger)
    total_bid_quantity: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(20))
    fetched_at: Mapped[datetime]


class FinancialStatementItem(Base):
    """One line of a financial statement, long format, amounts in won.

    ``source`` is ``kis`` (statements and ratios, 억원 converted to won) or ``dart``
    (fnlttSinglAcntAll, with report code and consolidated/separate split).
    """

    __tablename__ = "financial_statements"

    code: Mapped[str] = mapped_column(Code, ForeignKey("stocks.code"), primary_key=True)
    source: Mapped[str] = mapped_column(String(10), primary_key=True)
    statement: Mapped[str] = mapped_column(String(20), primary_key=True)  # BS, IS, CF, RATIO, ...
    period: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYYMM (period end)
    fs_div: Mapped[str] = mapped_column(String(3), primary_key=True)  # CFS | OFS | "" (KIS)
    account: Mapped[str] = mapped_column(String(200), primary_key=True)
    account_name: Mapped[str | None] = mapped_column(String(200))
    value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(10), default="KRW")
    report_code: Mapped[str | None] = mapped_column(String(5))
    rcept_no: Mapped[str | None] = mapped_column(String(14))
    published_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime]


# --------------------------------------------------------------------------------------------
# Text: news and disclosures
# --------------------------------------------------------------------------------------------
class NewsArticle(Base):
    """One story, however many sources carried it (deduplicated by canonical URL and content hash).

    ``first_seen_estimated``: true when ``first_seen_at`` is not our sighting but the estimate of
    ``stock_insights.text.point_in_time`` for an item fetched long after its publication (backfills).
    """

    __tablename__ = "news_articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    canonical_url: Mapped[str] = mapped_column(String(1000), unique=True)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(5), default="ko")
    published_at: Mapped[datetime]
    first_seen_at: Mapped[datetime]
    first_seen_estimated: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    content_hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_news_articles_published_at_id", "published_at", "id"),  # the /news order (0008)
        Index("ix_news_articles_first_seen_at", "first_seen_at"),
        Index("ix_news_articles_content_hash", "content_hash"),
    )


class NewsArticleSource(Base):
    """The same story from two sources is one article with two rows here.

    ``published_at`` is this source's own stamp (Naver's delivery time differs from the paper's);
    ``first_seen_at`` is when this source first showed us the story (same rule as the article's).
    """

    __tablename__ = "news_article_sources"

    article_id: Mapped[int] = mapped_column(ForeignKey("news_articles.id", ondelete="CASCADE"), primary_key=True)
    source: Mapped[str] = mapped_column(String(20), primary_key=True)  # naver, hankyung, maeil, reddit
    source_url: Mapped[str] = mapped_column(String(1000))
    source_item_id: Mapped[str | None] = mapped_column(String(200))
    fetched_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime | None]
    title: Mapped[str | None] = mapped_column(Text)  # this source's own headline
    # The source item's own canonical URL: differs from the article's when a content-hash match merged it.
    canonical_url: Mapped[str | None] = mapped_column(String(1000))

    __table_args__ = (
        Index("ix_news_article_sources_source_fetched_at", "source", "fetched_at"),
        Index("ix_news_article_sources_source_item_id", "source", "source_item_id"),
        Index("ix_news_article_sources_canonical_url", "canonical_url"),
    )


class NewsStockLink(Base):
    __tablename__ = "news_stock_links"

    article_id: Mapped[int] = mapped_column(ForeignKey("news_articles.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(Code, ForeignKey("stocks.code"), primary_key=True)
    evidence: Mapped[dict[str, Any]]  # which alias matched where
    confidence: Mapped[float] = mapped_column(Float)
    # code (a six-digit code in the text) | alias (a name or alias) | corroborated (an ambiguous alias)
    method: Mapped[str] = mapped_column(String(20), default="alias", server_default="alias")
    # When the sighting that made the link was first seen (0011; null for links stored before: the article's).
    first_seen_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_news_stock_links_code_article_id", "code", "article_id"),)  # /news?code= (0008)


class Disclosure(Base):
    """One DART filing. ``receipt_date`` is the source's publication stamp (a date: DART gives no
    time); ``first_seen_at`` is the point-in-time truth (estimated for backfills, see
    ``stock_insights.text.point_in_time``)."""

    __tablename__ = "disclosures"

    rcept_no: Mapped[str] = mapped_column(String(14), primary_key=True)
    corp_code: Mapped[str] = mapped_column(String(8))
    corp_name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(Code)  # blank stock_code: unlisted filer
    corp_cls: Mapped[str] = mapped_column(String(1))
    report_name: Mapped[str] = mapped_column(String(500))
    filer_name: Mapped[str] = mapped_column(String(200))
    receipt_date: Mapped[date] = mapped_column(Date)  # DART gives a date, not a time
    remarks: Mapped[str] = mapped_column(String(20), default="")
    viewer_url: Mapped[str] = mapped_column(String(200))
    first_seen_at: Mapped[datetime]
    first_seen_estimated: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    is_correction: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")  # [기재정정] ...
    updated_at: Mapped[datetime | None]  # last time a run saw the filing (remarks can change)
    # Versions (0011, ``clients.dart.link_versions``): a correction is a new row linked to what it amends, never
    # an overwrite. ``original_rcept_no`` is the chain's first stored filing (the row itself for an original).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    original_rcept_no: Mapped[str | None] = mapped_column(String(14))
    amends_rcept_no: Mapped[str | None] = mapped_column(String(14))
    original_missing: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    __table_args__ = (
        Index("ix_disclosures_original_rcept_no_version", "original_rcept_no", "version"),
        Index("ix_disclosures_code_receipt_date", "code", "receipt_date"),
        Index("ix_disclosures_first_seen_at", "first_seen_at"),
        Index("ix_disclosures_receipt_date_rcept_no", "receipt_date", "rcept_no"),  # the /disclosures order (0008)
    )


class EmbeddingRecord(Base):
    """Content-hash registry: a document is embedded again only when its hash changes."""

    __tablename__ = "embedding_records"

    doc_type: Mapped[str] = mapped_column(String(12), primary_key=True)  # news, disclosure, report
    doc_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    collection: Mapped[str] = mapped_column(String(100), primary_key=True)  # says model and dimension
    content_hash: Mapped[str] = mapped_column(String(64))
    milvus_id: Mapped[int] = mapped_column(BigInteger)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    embedded_at: Mapped[datetime]


# --------------------------------------------------------------------------------------------
# Predictions, evaluations, experiments
# --------------------------------------------------------------------------------------------
class Prediction(Base):
    """One model's forecast for one stock, target trading day and horizon, made at ``as_of``.

    A later cutoff (a disclosure during the day) makes a new version: same key, later ``as_of``.
    """

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(50))
    code: Mapped[str] = mapped_column(Code, ForeignKey("stocks.code"))
    target_date: Mapped[date] = mapped_column(Date)
    horizon: Mapped[int] = mapped_column(Integer, default=1)  # trading days
    as_of: Mapped[datetime]
    direction: Mapped[str] = mapped_column(String(4))  # up | down | flat
    prob_up: Mapped[float] = mapped_column(Float)
    expected_return: Mapped[float] = mapped_column(Float)
    rationale: Mapped[dict[str, Any]]  # {"positive": [...], "concerns": [...], "summary": "..."}
    cited_inputs: Mapped[dict[str, Any]]  # exactly the inputs the model saw
    prompt_version: Mapped[str | None] = mapped_column(String(20))
    # SHA-256 (hex) of the canonical JSON of the rendered prompt's messages; None for baselines (no prompt).
    prompt_hash: Mapped[str | None] = mapped_column(String(64))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    replay: Mapped[bool] = mapped_column(Boolean, default=False)  # served from the LLM answer cache
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("model", "code", "target_date", "horizon", "as_of"),
        Index("ix_predictions_target_date_model", "target_date", "model"),
        Index("ix_predictions_code_target_date", "code", "target_date"),
        # The /predictions order (0008): target_date desc, code, model, as_of desc, id desc.
        Index(
            "ix_predictions_listing",
            text("target_date DESC"),
            "code",
            "model",
            text("as_of DESC"),
            text("id DESC"),
        ),
    )


class Evaluation(Base):
    """A prediction scored against the market. Entry: previous close; exit: close ``horizon``
    sessions later (for horizon 1: previous close to target close)."""

    __tablename__ = "evaluations"

    prediction_id: Mapped[int] = mapped_column(ForeignKey("predictions.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(8))  # pending | scored
    entry_date: Mapped[date | None] = mapped_column(Date)
    exit_date: Mapped[date | None] = mapped_column(Date)
    entry_price: Mapped[float | None] = mapped_column(Float)
    exit_price: Mapped[float | None] = mapped_column(Float)
    realized_return: Mapped[float | None] = mapped_column(Float)
    market_return: Mapped[float | None] = mapped_column(Float)
    excess_return: Mapped[float | None] = mapped_column(Float)
    realized_direction: Mapped[str | None] = mapped_column(String(4))
    hit: Mapped[bool | None] = mapped_column(Boolean)
    brier: Mapped[float | None] = mapped_column(Float)
    log_loss: Mapped[float | None] = mapped_column(Float)
    return_error: Mapped[float | None] = mapped_column(Float)
    scored_at: Mapped[datetime]


class Experiment(Base):
    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="running")  # running | stopped
    created_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]


class ExperimentArm(Base):
    __tablename__ = "experiment_arms"

    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    model: Mapped[str] = mapped_column(String(50))
    weight: Mapped[float] = mapped_column(Float)  # traffic share


# --------------------------------------------------------------------------------------------
# Users, reports, notifications
# --------------------------------------------------------------------------------------------
class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(10), default="user")  # user | analyst | admin
    webhook_url: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime]
    # Access tokens carry it (claim "gen"); bumped by log-out-everywhere, a password or a role change, which
    # revokes every access token issued before at once (api/core/revocation.py).
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RefreshToken(Base):
    """An issued refresh token (by its ``jti``; the token itself is never stored).

    Tokens rotate: each refresh spends the presented token and issues the next one in the same
    *family* (one family per login). Presenting a spent or revoked token again revokes the whole
    family (reuse of a stolen token is detected); logging out revokes the family.
    """

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    family: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_refresh_tokens_user_id", "user_id"),
        Index("ix_refresh_tokens_family", "family"),
    )


class ApiKey(Base):
    """A personal API key (for the REST API and the MCP server): only its SHA-256 is stored, never the key.

    The key (``sik_`` and 43 random URL-safe characters, 256 bits) is shown once, when it is created; ``prefix``
    (its first 12 characters) lets its owner tell keys apart. A revoked key keeps its row (``revoked_at``)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_api_keys_user_id", "user_id"),)


class WatchlistItem(Base):
    __tablename__ = "watchlist_items"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(Code, ForeignKey("stocks.code"), primary_key=True)
    added_at: Mapped[datetime]


class Report(Base):
    __tablename__ = "reports"

    trading_date: Mapped[date] = mapped_column(Date, primary_key=True)
    scope: Mapped[str] = mapped_column(String(10), primary_key=True)  # "market" or a stock code
    markdown: Mapped[str] = mapped_column(Text)
    sources: Mapped[list[Any]] = mapped_column(default=list)
    generator: Mapped[str] = mapped_column(String(50))  # template | <llm model>
    created_at: Mapped[datetime]


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    event_key: Mapped[str] = mapped_column(String(200))  # one alert per user and event
    kind: Mapped[str] = mapped_column(String(30))
    code: Mapped[str | None] = mapped_column(Code)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("user_id", "event_key"),
        Index("ix_notifications_user_id_created_at_id", "user_id", "created_at", "id"),  # /notifications (0008)
    )


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(10))  # delivered | failed
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


# --------------------------------------------------------------------------------------------
# Plumbing: dataset versions (API cache keys), provider tokens, LLM answer cache
# --------------------------------------------------------------------------------------------
class DatasetVersion(Base):
    """Bumped by every pipeline write; API cache keys carry the versions they read."""

    __tablename__ = "dataset_versions"

    dataset: Mapped[str] = mapped_column(String(50), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]


class ProviderToken(Base):
    """Access tokens shared by every process (KIS allows one issuance a minute).

    Keyed by a fingerprint of the app key and base URL, never by the key itself.
    """

    __tablename__ = "provider_tokens"

    provider: Mapped[str] = mapped_column(String(20), primary_key=True)
    key_fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    access_token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]
    issued_at: Mapped[datetime]


class LLMCacheEntry(Base):
    __tablename__ = "llm_cache"

    cache_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(30))
    model: Mapped[str] = mapped_column(String(100))
    response: Mapped[dict[str, Any]]
    usage: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class LeaderboardSnapshot(Base):
    """Model standings over a rolling window, as of a trading day (evaluations/leaderboard)."""

    __tablename__ = "leaderboards"

    as_of_date: Mapped[date] = mapped_column(Date, primary_key=True)
    window: Mapped[int] = mapped_column(Integer, primary_key=True)  # trading days: 20, 60, 250
    payload: Mapped[dict[str, Any]]  # every metric per model, JSON-safe (no NaN)
    markdown: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


# --------------------------------------------------------------------------------------------
# Forecast ledger
# --------------------------------------------------------------------------------------------
class LedgerSeal(Base):
    """A trading day's live forecasts sealed before the open (``stock_insights.ledger``): written once, never
    rewritten. ``canonical_zlib`` is the zlib-compressed canonical form whose SHA-256 is ``digest``;
    ``chain_digest`` = SHA-256(``previous_digest`` + ``digest``), ``previous_digest`` being the chain digest of
    the previous sealed day (64 zeros for the first). Unique predecessors keep the chain a line."""

    __tablename__ = "ledger_seals"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    previous_digest: Mapped[str] = mapped_column(String(64), unique=True)
    chain_digest: Mapped[str] = mapped_column(String(64), unique=True)
    row_count: Mapped[int] = mapped_column(Integer)
    byte_count: Mapped[int] = mapped_column(Integer)  # of the canonical form, uncompressed
    sealed_at: Mapped[datetime]
    canonical_zlib: Mapped[bytes] = mapped_column(LargeBinary)
