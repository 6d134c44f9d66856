"""Helpers of the API tests: the app under test, users, a Redis server of our own, seeded data."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.core.security import hash_password_sync
from stock_insights.clients.kis import DailyBarRow, MinuteBarRow, OrderBook
from stock_insights.market.store import (
    upsert_daily_bars,
    upsert_minute_bars,
    upsert_orderbooks,
    upsert_stocks,
)
from stock_insights.predictors.store import upsert_evaluations, upsert_predictions
from stock_insights.settings import reset_settings_cache
from stock_insights.storage.datasets import Dataset
from stock_insights.storage.db import bump_dataset_version, make_engine, session_scope
from stock_insights.storage.models import (
    Disclosure,
    FinancialStatementItem,
    NewsArticle,
    NewsArticleSource,
    NewsStockLink,
    Prediction,
    Report,
    User,
)
from stock_insights.universe import KNOWN_LISTINGS
from stock_insights_tests.conftest import free_port

SHARED_REDIS = "redis://127.0.0.1:6379/0"  # the shared server: tests use keys under their own prefix only
PASSWORD = "correct-horse-battery"
CODES = ["000660", "005930", "035420"]
# Weekdays of 2026-10-01..12 (what the API serves does not depend on the exchange calendar).
BAR_DAYS = [d for d in (date(2026, 10, 1) + timedelta(days=i) for i in range(12)) if d.weekday() < 5]
NEWS_COUNT = 25
DISCLOSURE_COUNT = 25


@dataclass
class Api:
    client: TestClient
    url: str  # the database

    @property
    def state(self):  # type: ignore[no-untyped-def]
        return self.client.app.state.api  # type: ignore[attr-defined]

    def headers_for(self, user_id: int, role: str) -> dict[str, str]:
        # Tokens carry the account's current generation (a role change or logout-all revokes older ones).
        engine = make_engine(self.url)
        try:
            with engine.connect() as conn:
                generation = conn.scalar(select(User.token_generation).where(User.id == user_id)) or 0
        finally:
            engine.dispose()
        pair = self.state.tokens.issue(user_id, role, "unused-hash", generation=generation)
        return {"Authorization": f"Bearer {pair.access_token}"}


def make_user(url: str, email: str, role: str = "user", password: str = PASSWORD) -> int:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            user = User(
                email=email, password_hash=hash_password_sync(password), role=role, created_at=datetime.now(UTC)
            )
            session.add(user)
            session.flush()
            return user.id
    finally:
        engine.dispose()


def set_api_env(monkeypatch: pytest.MonkeyPatch, url: str, redis_url: str = "") -> None:
    for key, value in {
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "DATA_MODE": "simulated",
        "MILVUS_URI": f"http://127.0.0.1:{free_port()}",  # nothing listens: readiness says so quickly
    }.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()


class RedisServer:
    """A redis-server of our own on a free port, so that a test can kill it (never the shared one)."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (Debian package redis-server)")
        self.port = free_port()
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        client.close()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stored_keys(self) -> list[bytes]:
        client = redis.Redis(port=self.port)
        try:
            return client.keys("*")
        finally:
            client.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def bar(day: date, close: float) -> DailyBarRow:
    return DailyBarRow(
        trading_date=day, open=close, high=close * 1.01, low=close * 0.99, close=close, volume=1000, trade_value=10**6
    )


def seed(url: str) -> None:
    """A small market through the pipeline's own write paths (each bumps its dataset version)."""
    engine = make_engine(url)
    now = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
    with session_scope(engine) as session:
        upsert_stocks(session, [KNOWN_LISTINGS[c] for c in CODES])
        for i, code in enumerate(CODES):
            upsert_daily_bars(
                session,
                code,
                [bar(d, 1000 * (i + 1) + 10 * n * (-1) ** i) for n, d in enumerate(BAR_DAYS)],
                adjusted=True,
                source="kis",
            )
        bump_dataset_version(session, Dataset.DAILY_BARS)
        upsert_minute_bars(
            session,
            "005930",
            [
                MinuteBarRow(
                    trading_date=BAR_DAYS[-1],
                    bar_time=datetime(2026, 10, 14, 0, m, tzinfo=UTC),
                    open=100,
                    high=110,
                    low=99,
                    close=100 + m,
                    volume=10,
                    cum_trade_value=1000 * (m + 1),
                )
                for m in range(3)
            ],
            source="kis",
        )
        bump_dataset_version(session, Dataset.MINUTE_BARS)
        upsert_orderbooks(
            session,
            [
                OrderBook(
                    code="005930",
                    snapshot_at=datetime(2026, 10, 14, 5, 0, tzinfo=UTC),
                    ask_prices=[101.0, 102.0],
                    ask_quantities=[10, 20],
                    bid_prices=[100.0, 99.0],
                    bid_quantities=[30, 40],
                    total_ask_quantity=30,
                    total_bid_quantity=70,
                )
            ],
            source="kis",
        )
        bump_dataset_version(session, Dataset.ORDERBOOK)
        session.add_all(
            FinancialStatementItem(
                code="005930",
                source="dart",
                statement="IS",
                period=period,
                fs_div="CFS",
                account="ifrs-full_Revenue",
                account_name="매출액",
                value=7.9e13,
                unit="KRW",
                report_code="11014",
                rcept_no=None,
                published_at=None,
                first_seen_at=now,
            )
            for period in ("202606", "202609")
        )
        bump_dataset_version(session, Dataset.FINANCIALS)
        for n in range(NEWS_COUNT):
            # Pairs of articles share a publication time: the cursor's id tie-break is exercised.
            published = now - timedelta(hours=n // 2)
            article = NewsArticle(
                canonical_url=f"https://news.example/a/{n}",
                title=f"삼성전자 뉴스 {n} {'자사주' if n % 5 == 0 else ''}",
                body=None,
                summary=None,
                language="ko",
                published_at=published,
                first_seen_at=published + timedelta(minutes=1),
                content_hash=f"{n:064d}",
            )
            session.add(article)
            session.flush()
            session.add(
                NewsArticleSource(
                    article_id=article.id,
                    source="hankyung" if n % 2 else "naver",
                    source_url=f"https://news.example/a/{n}",
                    fetched_at=now,
                )
            )
            session.add(NewsStockLink(article_id=article.id, code=CODES[n % 3], evidence={}, confidence=1.0))
        bump_dataset_version(session, Dataset.NEWS)
        session.add_all(
            Disclosure(
                rcept_no=f"202610{10 + n // 5:02d}{n:06d}",
                corp_code="00126380",
                corp_name="삼성전자",
                code=CODES[n % 3],
                corp_cls="Y",
                report_name=f"주요사항보고서 {n}",
                filer_name="삼성전자",
                receipt_date=date(2026, 10, 10 + n // 5),
                remarks="",
                viewer_url=f"https://dart.fss.or.kr/dsaf001/main.do?rcpNo={n}",
                first_seen_at=now - timedelta(hours=n),
            )
            for n in range(DISCLOSURE_COUNT)
        )
        bump_dataset_version(session, Dataset.DISCLOSURES)
        session.add(
            Report(
                trading_date=BAR_DAYS[-1],
                scope="market",
                markdown="# Market\n",
                sources=[],
                generator="template",
                created_at=now,
            )
        )
        bump_dataset_version(session, Dataset.REPORTS)
        predictions = [
            {
                "model": model,
                "code": code,
                "target_date": day,
                "horizon": 1,
                "as_of": datetime.combine(day, datetime.min.time(), tzinfo=UTC) - timedelta(hours=1),
                "direction": "up",
                "prob_up": 0.6,
                "expected_return": 0.001,
                "rationale": {},
                "cited_inputs": {},
            }
            for model in ("momentum", "llm")
            for code in CODES
            for day in BAR_DAYS[1:]
        ]
        upsert_predictions(session, predictions)
        session.flush()
        ids = session.execute(Prediction.__table__.select()).all()
        upsert_evaluations(
            session,
            [
                {
                    "prediction_id": row.id,
                    "status": "scored",
                    "hit": row.id % 2 == 0,
                    "brier": 0.2 if row.model == "momentum" else 0.3,
                    "log_loss": 0.6,
                    "realized_return": 0.01,
                    "realized_direction": "up",
                    "scored_at": now,
                }
                for row in ids
            ],
        )
    engine.dispose()
