"""The alerts pipeline over a stored day, on SQLite and PostgreSQL: every rule, once per user and event,
point in time, webhooks to a local receiver; re-runs and concurrent runs add and send nothing twice."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from stock_insights.alerts.pipeline import AlertRun, run_alerts
from stock_insights.alerts.rules import Thresholds
from stock_insights.alerts.webhook import DeliveryPolicy, WebhookSender
from stock_insights.calendar import KST
from stock_insights.market.store import upsert_stocks
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.migrate import upgrade
from stock_insights.storage.models import (
    DailyBar,
    Disclosure,
    MinuteBar,
    NewsArticle,
    NewsStockLink,
    Notification,
    Prediction,
    User,
    WatchlistItem,
    WebhookDelivery,
)
from stock_insights.universe import lookup
from stock_insights_tests.alerts.conftest import Receiver, Reply

DAY, PREV, NEXT = date(2026, 10, 15), date(2026, 10, 14), date(2026, 10, 16)
THRESHOLDS = Thresholds(move=0.05, burst_count=5, burst_minutes=60)
NOON = datetime(2026, 10, 15, 12, 0, tzinfo=KST)


def kst(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=KST)


def _filing(rcept_no: str, code: str, seen: datetime, *, estimated: bool = False) -> Disclosure:
    return Disclosure(
        rcept_no=rcept_no,
        corp_code="00126380",
        corp_name="삼성전자",
        code=code,
        corp_cls="Y",
        report_name="주요사항보고서(자기주식취득결정)",
        filer_name="삼성전자",
        receipt_date=seen.date(),
        remarks="유",
        viewer_url=f"https://dart.fss.or.kr/dsaf001/main.do?rcept_no={rcept_no}",
        first_seen_at=seen,
        first_seen_estimated=estimated,
        is_correction=False,
        updated_at=seen,
    )


def _daily(code: str, day: date, close: float, fetched: datetime) -> DailyBar:
    return DailyBar(
        code=code,
        trading_date=day,
        adjusted=True,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=1,
        trade_value=1,
        revised=False,
        source="kis",
        fetched_at=fetched,
    )


def _minute(code: str, at: datetime, close: float, fetched: datetime) -> MinuteBar:
    return MinuteBar(
        code=code,
        bar_time=at,
        trading_date=at.date(),
        open=close,
        high=close,
        low=close,
        close=close,
        volume=1,
        cum_trade_value=1,
        source="kis",
        fetched_at=fetched,
    )


def _prediction(code: str, target: date, hour: int, direction: str, created: datetime | None = None) -> Prediction:
    as_of = kst(target, hour)
    return Prediction(
        model="momentum",
        code=code,
        target_date=target,
        horizon=1,
        as_of=as_of,
        direction=direction,
        prob_up=0.6 if direction == "up" else 0.4,
        expected_return=0.0,
        rationale={},
        cited_inputs={},
        created_at=created or as_of + timedelta(minutes=1),
    )


def _articles(code: str, times: list[datetime], *, estimated: bool = False, tag: str = "") -> list:
    rows = []
    for i, seen in enumerate(times):
        article = NewsArticle(
            canonical_url=f"https://news.example/{code}/{tag}{i}",
            title=f"{code} news {i}",
            published_at=seen,
            first_seen_at=seen,
            first_seen_estimated=estimated,
            content_hash=f"{code}{tag}{i:060d}"[:64],
        )
        rows.append(article)
    return rows


@pytest.fixture
def day_store(database_url: str, receiver: Receiver) -> Iterator[tuple[str, dict[str, int]]]:
    """A stored trading day: three stocks, four users, filings, bars, forecasts and news."""
    upgrade(database_url)
    engine = make_engine(database_url)
    users = {}
    with session_scope(engine) as session:
        upsert_stocks(session, [lookup(code) for code in ("005930", "000660", "035420")])  # type: ignore[misc]
        for name, hook in (
            ("alice", "/hooks/alice"),
            ("bob", None),
            ("carol", "/hooks/carol"),
            ("dave", "/hooks/dave"),
        ):
            user = User(
                email=f"{name}@example.com",
                password_hash="x",
                role="user",
                webhook_url=receiver.url + hook if hook else None,
                created_at=kst(date(2026, 9, 1), 9),
            )
            session.add(user)
            session.flush()
            users[name] = user.id
        october = kst(date(2026, 10, 1), 9)
        session.add_all(
            [
                WatchlistItem(user_id=users["alice"], code="005930", added_at=october),
                WatchlistItem(user_id=users["alice"], code="000660", added_at=october),
                WatchlistItem(user_id=users["bob"], code="005930", added_at=october),
                WatchlistItem(user_id=users["carol"], code="005930", added_at=kst(DAY, 13)),  # after the morning
                WatchlistItem(user_id=users["dave"], code="035420", added_at=october),
            ]
        )
        session.add_all(
            [
                _filing("20261015000101", "005930", kst(DAY, 10)),
                _filing("20261014000999", "005930", kst(DAY, 0), estimated=True),  # a backfill's estimate: no alert
                _filing("20261015000102", "000660", kst(DAY, 14)),
                _filing("20261015000103", "005930", kst(DAY, 14, 30)),
                _filing("20261015000104", "035420", kst(DAY, 9)),
                _filing("20261016000105", "005930", kst(NEXT, 9)),  # the next partition's
            ]
        )
        session.add_all(
            [
                _daily("005930", PREV, 100_000, kst(PREV, 15, 40)),
                _daily("000660", PREV, 200_000, kst(PREV, 15, 40)),
                _daily("005930", DAY, 103_000, kst(DAY, 15, 40)),  # the close: +3%, no alert by itself
                _minute("005930", kst(DAY, 10, 30), 106_000, kst(DAY, 10, 31)),  # +6% at 10:30
                _minute("000660", kst(DAY, 10, 30), 202_000, kst(DAY, 10, 31)),  # +1%
                # A -7% bar stored only weeks later (a backfill): the live runs never saw it.
                _minute("005930", kst(DAY, 11, 0), 93_000, kst(date(2026, 11, 20), 9)),
            ]
        )
        session.add_all(
            [
                _prediction("005930", PREV, 8, "up"),
                _prediction("005930", DAY, 8, "up"),
                _prediction("005930", DAY, 11, "down"),  # a filing-triggered refresh flips it
                _prediction("000660", PREV, 8, "up"),
                _prediction("000660", DAY, 8, "down", created=kst(date(2026, 11, 20), 9)),  # backfilled later
            ]
        )
        burst = _articles("000660", [kst(DAY, 9, m) for m in (0, 5, 10, 15, 20, 25)])
        quiet = _articles("005930", [kst(DAY, 9, 0), kst(DAY, 11, 0)], tag="q")
        estimated = _articles("005930", [kst(DAY, 10, m) for m in range(6)], estimated=True, tag="e")
        session.add_all(burst + quiet + estimated)
        session.flush()
        session.add_all(
            [NewsStockLink(article_id=a.id, code="000660", evidence={}, confidence=1.0) for a in burst]
            + [NewsStockLink(article_id=a.id, code="005930", evidence={}, confidence=1.0) for a in quiet + estimated]
        )
    engine.dispose()
    yield database_url, users


def _run(url: str, now: datetime, days: list[date] | None = None) -> AlertRun:
    engine = make_engine(url)
    try:
        sender = WebhookSender(DeliveryPolicy(max_attempts=2, backoff_seconds=0.0), sleep=lambda s: None)
        return run_alerts(engine, days or [DAY], now=now, thresholds=THRESHOLDS, sender=sender, simulated=True)
    finally:
        engine.dispose()


def _notifications(url: str) -> list[tuple[int, str, str]]:
    engine = make_engine(url)
    with session_scope(engine) as session:
        rows = session.execute(select(Notification.user_id, Notification.event_key, Notification.kind)).all()
    engine.dispose()
    return sorted((u, k, kind) for u, k, kind in rows)


def _deliveries(url: str) -> dict[str, tuple[str, int]]:
    engine = make_engine(url)
    with session_scope(engine) as session:
        rows = session.execute(
            select(Notification.event_key, User.email, WebhookDelivery.status, WebhookDelivery.attempts)
            .join(WebhookDelivery, WebhookDelivery.notification_id == Notification.id)
            .join(User, User.id == Notification.user_id)
        ).all()
    engine.dispose()
    return {f"{email.split('@')[0]} {key}": (status, attempts) for key, email, status, attempts in rows}


def test_every_rule_alerts_each_watcher_once(day_store: tuple[str, dict[str, int]], receiver: Receiver) -> None:
    url, users = day_store
    alice, bob, carol, dave = users["alice"], users["bob"], users["carol"], users["dave"]
    noon = _run(url, NOON)
    expected_noon = {
        (alice, "filing:20261015000101", "disclosure"),
        (bob, "filing:20261015000101", "disclosure"),
        (alice, "move:005930:2026-10-15:up", "price_move"),
        (bob, "move:005930:2026-10-15:up", "price_move"),
        (alice, "flip:momentum:005930:2026-10-15", "prediction_flip"),
        (bob, "flip:momentum:005930:2026-10-15", "prediction_flip"),
        (alice, "news_burst:000660:2026-10-15:0900", "news_burst"),
        (dave, "filing:20261015000104", "disclosure"),
    }
    assert set(_notifications(url)) == expected_noon
    assert len(noon.created) == len(expected_noon) and noon.matched == len(expected_noon)
    assert noon.events_by_rule == {"disclosure": 2, "price_move": 1, "prediction_flip": 1, "news_burst": 1}
    assert noon.without_webhook == 3  # bob has none
    assert noon.delivered == 5 and noon.failed == 0
    assert sorted(receiver.paths()) == ["/hooks/alice"] * 4 + ["/hooks/dave"]
    burst = next(r.payload for r in receiver.requests if "news articles" in r.payload["text"])
    assert burst["blocks"][0]["text"]["text"] == "SK하이닉스 (000660): 5 news articles in 60 minutes"

    # The same moment again: nothing new, nothing sent.
    again = _run(url, NOON)
    assert again.created == [] and again.deliveries == {} and len(again.events) == len(noon.events)
    assert len(receiver.requests) == 5

    # After the window: the afternoon's filings; carol (watching since 13:00) gets only the 14:30 one.
    # The close (+3%) makes no new move; the late -7% bar and the late forecast were never live.
    evening = _run(url, kst(NEXT, 9))
    assert {(n.user_id, n.event.key) for n in evening.created} == {
        (alice, "filing:20261015000102"),
        (alice, "filing:20261015000103"),
        (bob, "filing:20261015000103"),
        (carol, "filing:20261015000103"),
    }
    assert evening.windows[0].complete
    assert len(receiver.requests) == 5 + 3  # alice twice, carol once
    assert all(status == "delivered" for status, _ in _deliveries(url).values())

    # Re-materializing the day weeks later, and the next day's partition too: nothing new for this day,
    # the next day's own filing is the only addition.
    later = _run(url, datetime(2026, 11, 26, 12, 0, tzinfo=KST), [DAY, NEXT])
    assert {(n.user_id, n.event.key) for n in later.created} == {
        (alice, "filing:20261016000105"),
        (bob, "filing:20261016000105"),
        (carol, "filing:20261016000105"),
    }
    assert len(_notifications(url)) == len(expected_noon) + 4 + 3


def test_a_failing_webhook_is_recorded_and_not_retried_by_later_runs(
    day_store: tuple[str, dict[str, int]], receiver: Receiver
) -> None:
    url, _ = day_store
    receiver.default = Reply(500, "rollup_error")
    first = _run(url, NOON)
    assert first.delivered == 0 and first.failed == 5
    assert dict(first.failed_hosts) == {receiver.url.removeprefix("http://"): 5}
    deliveries = _deliveries(url)
    assert len(deliveries) == 5
    assert set(deliveries.values()) == {("failed", 2)}
    engine = make_engine(url)
    with session_scope(engine) as session:
        errors = set(session.execute(select(WebhookDelivery.last_error)).scalars())
    engine.dispose()
    assert errors == {"HTTP 500: rollup_error"}
    assert len(receiver.requests) == 10  # five notifications, two tries each

    receiver.default = Reply(200)
    assert _run(url, NOON).deliveries == {}
    assert len(receiver.requests) == 10


def test_concurrent_runs_create_and_send_each_notification_once(
    day_store: tuple[str, dict[str, int]], receiver: Receiver
) -> None:
    url, _ = day_store
    results: list[AlertRun] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def worker() -> None:
        try:
            barrier.wait()
            results.append(_run(url, NOON))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sum(len(r.created) for r in results) == 8
    assert len(_notifications(url)) == 8
    assert len(receiver.requests) == 5  # alice's four and dave's one, each once
