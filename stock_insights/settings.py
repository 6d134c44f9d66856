"""The one settings module: every knob comes from an environment variable (see .env.example).

Secrets are ``SecretStr`` so that they never show in a repr, a log line, an exception or metadata;
call ``.get_secret_value()`` only at the moment a request is built.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from stock_insights.clients.base_url import service_root, versioned_base

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"

# Real names and codes of a small universe (KOSPI large caps and two KOSDAQ names) for tests and benchmarks;
# the default universe is UNIVERSE_POLICY over the KIS master.
DEFAULT_UNIVERSE = "005930,000660,035420,035720,005380,051910,068270,247540"

_CODE = re.compile(r"^\d{6}$")


def _split_csv(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, Iterable):
        raise TypeError(f"expected a comma-separated string or a list, not {type(value).__name__}")
    return [str(v).strip() for v in value]


CsvList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- storage -------------------------------------------------------------------------
    DATABASE_URL: str = Field(
        default=f"sqlite:///{DEFAULT_DATA_DIR / 'stock_insights.db'}",
        description="SQLAlchemy URL. Default: a SQLite file under ./data. Production: postgresql+psycopg://...",
    )
    DATABASE_CONNECT_TIMEOUT_SECONDS: int = Field(
        default=5,
        ge=2,
        le=300,
        description="PostgreSQL: seconds to wait for a new connection (libpq connect_timeout; 2 at least). A server "
        "that does not answer (packets dropped, not refused) fails the request or run after this, not never.",
    )
    REDIS_URL: str = Field(default="", description="Empty: an in-process cache serves the API.")
    REDIS_KEY_PREFIX: str = Field(
        default="si",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Every Redis key the project writes starts with '<prefix>:'. Deployments (or test runs) that "
        "share one Redis server each take their own; nothing outside the prefix is read, written or deleted.",
    )
    MILVUS_URI: str = Field(default="http://127.0.0.1:19530")

    # --- KIS Open API --------------------------------------------------------------------
    KIS_BASE_URL: str = "https://openapi.koreainvestment.com:9443"
    KIS_APP_KEY: SecretStr = SecretStr("")
    KIS_APP_SECRET: SecretStr = SecretStr("")
    KIS_RATE_LIMIT_PER_SEC: float = Field(default=20.0, gt=0, le=1000)
    KIS_MASTER_BASE_URL: str = Field(
        default="https://new.real.download.dws.co.kr",
        description="Host of the KIS stock master downloads (<base>/common/master/kospi_code.mst.zip, "
        "kosdaq_code.mst.zip); a trailing /common/master is accepted and removed.",
    )
    KIS_RATE_HEADROOM: float = Field(
        default=0.95,
        gt=0,
        le=1,
        description="The share of KIS_RATE_LIMIT_PER_SEC the collection plan counts on (the limiter itself admits a "
        "request only while fewer than the limit are open, so KIS never counts more than the limit).",
    )
    KIS_FETCH_CONCURRENCY: int = Field(
        default=4,
        ge=1,
        le=32,
        description="Requests one KIS asset keeps in flight, so that the budget's slots stay filled whatever the "
        "latency; the shared limiter, not this, bounds the rate.",
    )
    KIS_INTRADAY_WINDOW_SECONDS: int = Field(default=300, ge=60, description="Intraday collection window.")
    KIS_INTRADAY_BUDGET_SHARE: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Share of a window's KIS slots that minute bars and order books together may use; the rest "
        "is left to daily/index bars, financials, retries and other runs.",
    )
    KIS_INTRADAY_ORDERBOOK_SHARE: float = Field(
        default=0.5, ge=0, le=1, description="Share of the intraday slots spent on order books (the rest: minute bars)."
    )
    KIS_INTRADAY_HOT_TOP_N: int = Field(
        default=300,
        ge=0,
        description="Besides watched stocks, this many of the most traded (previous session's traded value) are "
        "collected every window; every other stock is rotated across windows.",
    )

    # --- OpenDART ------------------------------------------------------------------------
    DART_BASE_URL: str = "https://opendart.fss.or.kr"
    DART_API_KEY: SecretStr = SecretStr("")

    # --- Naver Search API ----------------------------------------------------------------
    NAVER_BASE_URL: str = "https://openapi.naver.com"
    NAVER_CLIENT_ID: SecretStr = SecretStr("")
    NAVER_CLIENT_SECRET: SecretStr = SecretStr("")
    # NAVER API HUB serves the same search under another path with X-NCP-APIGW-API-KEY-ID / -KEY headers.
    NAVER_NEWS_PATH: str = Field(default="/v1/search/news.json", pattern=r"^/[A-Za-z0-9_./-]*$")
    NAVER_CLIENT_ID_HEADER: str = Field(default="X-Naver-Client-Id", pattern=r"^[A-Za-z0-9-]+$")
    NAVER_CLIENT_SECRET_HEADER: str = Field(default="X-Naver-Client-Secret", pattern=r"^[A-Za-z0-9-]+$")

    # --- RSS -----------------------------------------------------------------------------
    HANKYUNG_FEED_URLS: CsvList = Field(
        default_factory=lambda: [
            "https://www.hankyung.com/feed/finance",
            "https://www.hankyung.com/feed/economy",
        ]
    )
    MAEIL_FEED_URLS: CsvList = Field(
        default_factory=lambda: [
            "https://www.mk.co.kr/rss/50200011/",
            "https://www.mk.co.kr/rss/30100041/",
        ]
    )

    # --- Reddit --------------------------------------------------------------------------
    REDDIT_AUTH_URL: str = "https://www.reddit.com/api/v1/access_token"
    REDDIT_BASE_URL: str = "https://oauth.reddit.com"
    REDDIT_CLIENT_ID: SecretStr = SecretStr("")
    REDDIT_CLIENT_SECRET: SecretStr = SecretStr("")
    REDDIT_SUBREDDITS: CsvList = Field(default_factory=lambda: ["korea", "stocks", "investing"])
    REDDIT_USER_AGENT: str = "python:stock_insights:v0.1.0 (by /u/stock_insights)"

    # --- LLMs ----------------------------------------------------------------------------
    OPENAI_API_KEY: SecretStr = SecretStr("")
    OPENAI_BASE_URL: str = "https://api.openai.com/v1"
    OPENROUTER_API_KEY: SecretStr = SecretStr("")
    OPENROUTER_BASE_URL: str = "https://openrouter.ai/api/v1"
    LLM_SUBSET_WATCHED: bool = Field(
        default=True, description="LLM models forecast every stock on a user's watchlist (baselines: every stock)."
    )
    LLM_SUBSET_TOP_NEWS: int = Field(
        default=100,
        ge=0,
        description="... and this many more stocks with the most documents first seen in the forecast's window.",
    )
    LLM_SUBSET_MIN_DOCUMENTS: int = Field(
        default=1, ge=0, description="A stock enters the news part of the LLM subset with at least this many documents."
    )
    LLM_BREAKER_FAILURES: int = Field(
        default=3,
        ge=0,
        description="After this many consecutive failed calls (after the SDK's retries) a model is called no more "
        "in the run: its requests fail at once (LLMCircuitOpen). 0: never.",
    )
    PREDICTION_MIN_COVERAGE: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description="predictions/daily's coverage check fails when a model made fewer than this share of the "
        "forecasts expected of it on a day (its stocks and horizons, minus those it declined for lack of input).",
    )

    # --- embeddings ----------------------------------------------------------------------
    EMBEDDER: Literal["auto", "openai", "hashing"] = Field(
        default="auto",
        description="auto: the OpenAI-compatible API when OPENAI_API_KEY is set, else the offline hashing embedder.",
    )
    EMBEDDING_MODEL: str = "text-embedding-3-small"
    EMBEDDING_DIMENSIONS: int = Field(default=1536, ge=8, le=4096)

    # --- evaluation -----------------------------------------------------------------------
    EVAL_FEE_PER_SIDE: float = Field(default=0.00015, ge=0, description="Brokerage fee per trade side (0.015%).")
    EVAL_SELL_TAX: float = Field(default=0.0018, ge=0, description="Securities transaction tax on sells (0.18%).")
    EVAL_TOP_K: int = Field(default=3, ge=1, description="Stocks long and short in the daily portfolio.")

    # --- daily reports --------------------------------------------------------------------
    REPORT_MODEL: str = Field(
        default="gpt-4o",
        description="Registry model (models.yaml) that writes the daily reports when its key is set; "
        "empty: the deterministic template always.",
    )

    # --- alerts and webhooks ---------------------------------------------------------------
    ALERT_MOVE_THRESHOLD: float = Field(
        default=0.05, gt=0, lt=1, description="Alert when the latest price is this far from the previous close."
    )
    ALERT_NEWS_BURST_COUNT: int = Field(
        default=5, ge=2, description="A news burst: at least this many articles linked to one stock ..."
    )
    ALERT_NEWS_BURST_MINUTES: int = Field(
        default=60, ge=1, le=1440, description="... first seen within this many minutes."
    )
    WEBHOOK_MAX_ATTEMPTS: int = Field(default=3, ge=1, le=10, description="Tries per notification (5xx/429/errors).")
    WEBHOOK_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0, le=60, description="Timeout of each webhook try.")
    WEBHOOK_RETRY_AFTER_CAP_SECONDS: float = Field(
        default=20.0, ge=0, le=300, description="Longest Retry-After honoured; a longer one ends the retries."
    )
    WEBHOOK_CONCURRENCY: int = Field(default=8, ge=1, le=64, description="Webhook URLs delivered to in parallel.")
    WEBHOOK_ALLOWED_HOSTS: CsvList = Field(
        default_factory=list,
        description="Webhook hosts admitted although they are internal: names, IP addresses or networks (CIDR). "
        "Every other webhook must resolve to public addresses only (no loopback, private, link-local or metadata "
        "address) and use https unless DATA_MODE=simulated; allow-listed hosts may use http.",
    )

    # --- universe and run mode -----------------------------------------------------------
    STOCK_UNIVERSE: CsvList = Field(
        default_factory=list,
        description="Explicit override of the tracked stocks (6-digit codes). Empty: UNIVERSE_POLICY over the "
        "KIS stock master decides.",
    )
    UNIVERSE_POLICY: Literal["common", "common_preferred", "all"] = Field(
        default="common",
        description="What universe/stocks tracks from the master when STOCK_UNIVERSE is empty: common stocks, "
        "common and preferred shares, or every listing with a 6-character code (ETFs, ETNs, SPACs, REITs too).",
    )
    DATA_MODE: Literal["live", "simulated"] = Field(
        default="live",
        description="'simulated' when the base URLs point at the sandbox; shown in /health and metadata.",
    )
    DATA_DIR: Path = DEFAULT_DATA_DIR
    HISTORY_START: str = Field(default="2024-01-02", description="First trading-day partition (YYYY-MM-DD).")

    # --- API -----------------------------------------------------------------------------
    API_CORS_ORIGINS: CsvList = Field(default_factory=lambda: ["http://localhost:5173"])
    API_JWT_SECRET: SecretStr = Field(
        default=SecretStr(""),
        description="HS256 signing key (>= 32 bytes). Empty: a random key per process (tokens die on restart).",
    )
    API_ACCESS_TOKEN_MINUTES: int = Field(default=15, ge=1, le=1440)
    API_REFRESH_TOKEN_DAYS: int = Field(default=14, ge=1, le=365)
    API_CACHE_TTL_SECONDS: int = Field(default=300, ge=1, description="Bounds cache memory; freshness is by version.")
    API_MAX_BODY_BYTES: int = Field(
        default=65536, ge=1024, le=16 * 1024 * 1024, description="Largest request body accepted; larger: 413."
    )
    MCP_API_KEY: SecretStr = Field(
        default=SecretStr(""),
        description="The personal API key (POST /api/v1/users/me/api-keys) that the stdio MCP server "
        "(python -m api.mcp) acts with, with its owner's role; checked on every call. Not used by /mcp over HTTP.",
    )
    FORWARDED_ALLOW_IPS: CsvList = Field(
        default_factory=list,
        description="Proxies (IP addresses or networks) whose X-Forwarded-For/-Proto the API trusts. Empty: none; "
        "the client address is the connection's peer (what the per-address login limit counts).",
    )

    @field_validator(
        "HANKYUNG_FEED_URLS",
        "MAEIL_FEED_URLS",
        "REDDIT_SUBREDDITS",
        "API_CORS_ORIGINS",
        "WEBHOOK_ALLOWED_HOSTS",
        "FORWARDED_ALLOW_IPS",
        mode="before",
    )
    @classmethod
    def _csv(cls, value: object) -> list[str]:
        return _split_csv(value)

    # Base URLs as users write them (see .env.example): a trailing slash, the path segment the client adds
    # itself (OpenDART's /api, Naver's /v1, KIS's /uapi) or an OpenAI version segment given twice or not at
    # all all mean the same service. The clients normalise again, for callers that bypass the settings.
    @field_validator("DART_BASE_URL", mode="after")
    @classmethod
    def _dart_base(cls, value: str) -> str:
        return service_root(value, "api")

    @field_validator("KIS_BASE_URL", mode="after")
    @classmethod
    def _kis_base(cls, value: str) -> str:
        return service_root(value, "uapi")

    @field_validator("KIS_MASTER_BASE_URL", mode="after")
    @classmethod
    def _kis_master_base(cls, value: str) -> str:
        return service_root(value, "common/master")

    @field_validator("NAVER_BASE_URL", mode="after")
    @classmethod
    def _naver_base(cls, value: str) -> str:
        return service_root(value, "v1/search", "v1")

    @field_validator("REDDIT_BASE_URL", mode="after")
    @classmethod
    def _reddit_base(cls, value: str) -> str:
        return service_root(value)

    @field_validator("REDDIT_AUTH_URL", mode="after")
    @classmethod
    def _reddit_auth(cls, value: str) -> str:
        return value.strip()

    @field_validator("OPENAI_BASE_URL", mode="after")
    @classmethod
    def _openai_base(cls, value: str) -> str:
        return versioned_base(value, "/v1")

    @field_validator("OPENROUTER_BASE_URL", mode="after")
    @classmethod
    def _openrouter_base(cls, value: str) -> str:
        return versioned_base(value, "/api/v1")

    @field_validator("STOCK_UNIVERSE", mode="before")
    @classmethod
    def _universe(cls, value: object) -> list[str]:
        codes = _split_csv(value)
        bad = [c for c in codes if not _CODE.match(c)]
        if bad:
            raise ValueError(f"STOCK_UNIVERSE holds codes that are not 6 digits: {bad}")
        return list(dict.fromkeys(codes))

    @property
    def is_simulated(self) -> bool:
        return self.DATA_MODE == "simulated"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    """Tests and the run command change the environment; this forgets the cached settings."""
    get_settings.cache_clear()
