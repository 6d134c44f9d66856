"""Reads that gather a daily report's facts, and the writes of ``reports``.

Point in time: a report of day D reads the closes of D and of the session before it, the news and
filings first seen after the previous session's close and on or before D's close (15:30 KST; 16:30
on the CSAT day), the latest forecast version made before D's close, and the standings as of D (or
the latest day before it). Nothing written later about D can enter, so a re-run of a past day over
the same data gives the same facts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from stock_insights import calendar
from stock_insights.clients.kis.client import INDEX_CODES
from stock_insights.market.store import active_stocks, closes_by_code, index_closes
from stock_insights.metrics import honesty
from stock_insights.reports.facts import (
    Filing,
    IndexMove,
    MarketFacts,
    ModelCall,
    ModelDay,
    NewsItem,
    Standing,
    Standings,
    StockFacts,
    StockMove,
)
from stock_insights.storage.datasets import Dataset
from stock_insights.storage.db import bump_dataset_version, upsert, utcnow
from stock_insights.storage.models import (
    Disclosure,
    Evaluation,
    LeaderboardSnapshot,
    NewsArticle,
    NewsArticleSource,
    NewsStockLink,
    Prediction,
    Report,
)

MAX_NEWS_PER_STOCK = 5
MAX_FILINGS_PER_STOCK = 5
MAX_MARKET_NEWS = 6
MAX_MARKET_FILINGS = 8
STANDINGS_WINDOW = 20  # trading days; the leaderboard also keeps 60 and 250


class _DayCommon(TypedDict):
    """The fields that the market's report and every stock's report of one day share."""

    trading_date: date
    previous_session: date
    seen_after: datetime
    close_at: datetime
    standings: Standings | None


@dataclass(frozen=True)
class DayFacts:
    trading_date: date
    market: MarketFacts
    stocks: list[StockFacts]

    def all(self) -> list[StockFacts | MarketFacts]:
        return [self.market, *self.stocks]


def gather_day(session: Session, day: date) -> DayFacts:
    """The facts of every report of ``day``: the market's and each active stock's."""
    previous = calendar.previous_session(day)
    seen_after, close_at = calendar.session_close(previous), calendar.session_close(day)
    stocks = active_stocks(session)
    codes = [s.code for s in stocks]
    closes = closes_by_code(session, codes, previous, day)
    indices: dict[str, IndexMove] = {}
    for name, index_code in INDEX_CODES.items():
        levels = index_closes(session, index_code, previous, day)
        indices[name] = IndexMove(
            name=name, index_code=index_code, close=levels.get(day), previous_close=levels.get(previous)
        )
    moves = {
        s.code: StockMove(
            code=s.code,
            name=s.name,
            market=s.market,
            close=closes[s.code].get(day),
            previous_close=closes[s.code].get(previous),
            index=indices.get(s.market),
        )
        for s in stocks
    }
    news, strength = _news(session, codes, seen_after, close_at)
    filings = _filings(session, codes, seen_after, close_at)
    calls = _model_calls(session, codes, day, close_at)
    standings = standings_as_of(session, day)
    common: _DayCommon = {
        "trading_date": day,
        "previous_session": previous,
        "seen_after": seen_after,
        "close_at": close_at,
        "standings": standings,
    }

    stock_facts = []
    for code in codes:

        def rank(a: NewsItem, code: str = code) -> tuple[Any, ...]:
            return _news_rank(a, strength[a.article_id][code])

        own_news = sorted((a for a in news if code in a.codes), key=rank)
        own_filings = [f for f in filings if f.code == code]
        stock_facts.append(
            StockFacts(
                **common,
                move=moves[code],
                filings=_notable_filings(own_filings, MAX_FILINGS_PER_STOCK),
                news=own_news[:MAX_NEWS_PER_STOCK],
                filings_in_window=len(own_filings),
                news_in_window=len(own_news),
                predictions=sorted(calls.get(code, []), key=lambda c: c.model),
            )
        )
    by_model: dict[str, list[ModelCall]] = defaultdict(list)
    for code_calls in calls.values():
        for call in code_calls:
            by_model[call.model].append(call)
    market_news = sorted(news, key=lambda a: _news_rank(a, max(strength[a.article_id].values())))
    market = MarketFacts(
        **common,
        indices=[indices[name] for name in INDEX_CODES],
        stocks=list(moves.values()),
        filings=_notable_filings(filings, MAX_MARKET_FILINGS),
        news=market_news[:MAX_MARKET_NEWS],
        filings_in_window=len(filings),
        news_in_window=len(news),
        models=[
            ModelDay(
                model=model,
                forecasts=len(model_calls),
                hits=sum(1 for c in model_calls if c.outcome == "hit"),
                misses=sum(1 for c in model_calls if c.outcome == "miss"),
                pending=sum(1 for c in model_calls if c.outcome == "pending"),
            )
            for model, model_calls in sorted(by_model.items())
        ],
    )
    return DayFacts(day, market, stock_facts)


def _news_rank(article: NewsItem, confidence: float) -> tuple[Any, ...]:
    # The most widely carried first, then the surest link, then the earliest sighting.
    return (-len(article.outlets), -confidence, article.first_seen_at, article.article_id)


def _news(
    session: Session, codes: Sequence[str], seen_after: datetime, close_at: datetime
) -> tuple[list[NewsItem], dict[int, dict[str, float]]]:
    """News linked to the stocks, first seen in (seen_after, close_at], with the outlets that had
    carried it by the close; and the link confidence per article and stock."""
    rows = session.execute(
        select(NewsArticle, NewsStockLink.code, NewsStockLink.confidence)
        .join(NewsStockLink, NewsStockLink.article_id == NewsArticle.id)
        .where(
            NewsStockLink.code.in_(codes),
            NewsArticle.first_seen_at > seen_after,
            NewsArticle.first_seen_at <= close_at,
        )
    ).all()
    articles: dict[int, NewsArticle] = {}
    strength: dict[int, dict[str, float]] = defaultdict(dict)
    for article, code, confidence in rows:
        articles[article.id] = article
        strength[article.id][code] = confidence
    outlets: dict[int, set[str]] = defaultdict(set)
    ids = sorted(articles)
    for start in range(0, len(ids), 500):
        for article_id, source, first_seen in session.execute(
            select(NewsArticleSource.article_id, NewsArticleSource.source, NewsArticleSource.first_seen_at).where(
                NewsArticleSource.article_id.in_(ids[start : start + 500])
            )
        ):
            if (first_seen or articles[article_id].first_seen_at) <= close_at:
                outlets[article_id].add(source)
    items = [
        NewsItem(
            article_id=a.id,
            title=a.title,
            url=a.canonical_url,
            outlets=sorted(outlets[a.id]),
            codes=sorted(strength[a.id]),
            published_at=a.published_at,
            first_seen_at=a.first_seen_at,
        )
        for a in articles.values()
    ]
    return sorted(items, key=lambda a: a.article_id), strength


def _filings(session: Session, codes: Sequence[str], seen_after: datetime, close_at: datetime) -> list[Filing]:
    rows = session.execute(
        select(Disclosure)
        .where(Disclosure.code.in_(codes), Disclosure.first_seen_at > seen_after, Disclosure.first_seen_at <= close_at)
        .order_by(Disclosure.rcept_no)
    ).scalars()
    return [
        Filing(
            rcept_no=d.rcept_no,
            code=d.code,
            corp_name=d.corp_name,
            report_name=d.report_name,
            filer_name=d.filer_name,
            receipt_date=d.receipt_date,
            first_seen_at=d.first_seen_at,
        )
        for d in rows
    ]


def _notable_filings(filings: list[Filing], limit: int) -> list[Filing]:
    # Original filings before corrections ([기재정정]), then in receipt order.
    return sorted(filings, key=lambda f: ("정정" in f.report_name, f.rcept_no))[:limit]


def _model_calls(session: Session, codes: Sequence[str], day: date, close_at: datetime) -> dict[str, list[ModelCall]]:
    """Each model's latest forecast version made before the close, per stock, with its outcome."""
    rows = session.execute(
        select(Prediction, Evaluation)
        .outerjoin(Evaluation, Evaluation.prediction_id == Prediction.id)
        .where(
            Prediction.target_date == day,
            Prediction.horizon == 1,
            Prediction.as_of < close_at,
            Prediction.code.in_(codes),
        )
        .order_by(Prediction.as_of, Prediction.id)
    ).all()
    latest: dict[tuple[str, str], tuple[Prediction, Evaluation | None]] = {}
    for prediction, evaluation in rows:
        latest[(prediction.code, prediction.model)] = (prediction, evaluation)
    out: dict[str, list[ModelCall]] = defaultdict(list)
    for (code, model), (p, e) in sorted(latest.items()):
        scored = e is not None and e.status == "scored" and e.hit is not None
        out[code].append(
            ModelCall(
                model=model,
                direction=p.direction,  # type: ignore[arg-type]
                prob_up=p.prob_up,
                expected_return=p.expected_return,
                as_of=p.as_of,
                outcome=("hit" if e.hit else "miss") if scored and e is not None else "pending",
                realized_return=e.realized_return if scored and e is not None else None,
            )
        )
    return dict(out)


def standings_as_of(session: Session, day: date, window: int = STANDINGS_WINDOW) -> Standings | None:
    """The live leaderboard (the leaderboard's default) of ``window`` trading days as of ``day``, or of the latest
    day before it, and how many late forecasts of the window it leaves out."""
    board = session.execute(
        select(LeaderboardSnapshot)
        .where(LeaderboardSnapshot.window == window, LeaderboardSnapshot.as_of_date <= day)
        .order_by(LeaderboardSnapshot.as_of_date.desc())
        .limit(1)
    ).scalar_one_or_none()
    if board is None:
        return None
    live, served, _ = honesty.resolve(board.payload, honesty.LIVE, False)
    late = sum(int(m.get("n_late", 0)) for m in board.payload.get("models", [])) if served == honesty.LIVE else 0
    models = []
    for m in live.get("models", []):
        if m.get("rank") is None:  # too few dates to be ranked (metrics.leaderboard): not a standing
            continue
        hit_rate = m.get("hit_rate") or {}
        brier = m.get("brier") or {}
        models.append(
            Standing(
                rank=int(m["rank"]),
                model=str(m["model"]),
                n_predictions=int(m.get("n_predictions") or 0),
                hit_rate=hit_rate.get("rate"),
                ci_low=hit_rate.get("ci_low"),
                ci_high=hit_rate.get("ci_high"),
                brier=brier.get("brier"),
            )
        )
    return Standings(
        window=window,
        as_of_date=board.as_of_date,
        models=sorted(models, key=lambda s: s.rank),
        forecasts="live" if served == honesty.LIVE else "all",
        late_left_out=late,
    )


# --- writes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportWrite:
    new: int
    changed: int
    unchanged: int


def upsert_reports(session: Session, rows: Sequence[dict[str, Any]]) -> ReportWrite:
    """Store reports by (trading_date, scope). A report whose Markdown, sources and generator are
    unchanged is left as it is (``created_at`` included), so a re-run changes no row; the others are
    written with a new ``created_at``. Bumps the reports dataset version for the API cache."""
    keys = {(r["trading_date"], r["scope"]) for r in rows}
    days = sorted({day for day, _ in keys})
    stored: dict[tuple[date, str], Report] = {}
    if days:
        for report in session.execute(select(Report).where(Report.trading_date.in_(days))).scalars():
            stored[(report.trading_date, report.scope)] = report
    now = utcnow()
    fresh, new, changed = [], 0, 0
    for row in rows:
        old = stored.get((row["trading_date"], row["scope"]))
        if old is not None and (old.markdown, old.sources, old.generator) == (
            row["markdown"],
            row["sources"],
            row["generator"],
        ):
            continue
        new, changed = new + (old is None), changed + (old is not None)
        fresh.append({**row, "created_at": now})
    upsert(session, Report.__table__, fresh)
    bump_dataset_version(session, Dataset.REPORTS)
    return ReportWrite(new=new, changed=changed, unchanged=len(rows) - len(fresh))


def reports_of(session: Session, day: date) -> list[Report]:
    return list(session.execute(select(Report).where(Report.trading_date == day).order_by(Report.scope)).scalars())
