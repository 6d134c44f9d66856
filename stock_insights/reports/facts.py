"""The facts a daily report is written from, and the one way each of their numbers is written.

A report covers one trading day and one scope: the market, or one tracked stock. Its facts are what
was known at that day's close (15:30 KST): the close against the previous session's, the stock's
index over the same closes, the news and filings first seen after the previous close and on or
before this one, each model's forecast for the day with its outcome, and the models' standing.

``view`` turns facts into the JSON-ready dict that both the template and the LLM prompt use, with
every number already formatted as a string. The LLM guard then accepts only numbers that appear in
that view, so a number in a report is always one of these strings, whoever wrote the prose.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from stock_insights.calendar import KST

DART_VIEWER = "https://dart.fss.or.kr/dsaf001/main.do?rcpNo={rcept_no}"
MARKET = "market"

Outcome = Literal["hit", "miss", "pending"]


# --- formats: the only way a number reaches a report -------------------------------------------


def pct(value: float | None) -> str:
    """A return as a signed percentage with two decimals: 0.0085 -> "+0.85%"."""
    return "n/a" if value is None else f"{value * 100:+.2f}%"


def won(value: float | None) -> str:
    """A stock price in won: 71500.0 -> "71,500"."""
    return "n/a" if value is None else f"{value:,.0f}"


def points(value: float | None) -> str:
    """An index level: 2601.234 -> "2,601.23"."""
    return "n/a" if value is None else f"{value:,.2f}"


def share(value: float | None) -> str:
    """A probability or rate as an unsigned percentage with one decimal: 0.615 -> "61.5%"."""
    return "n/a" if value is None else f"{value * 100:.1f}%"


def score(value: float | None) -> str:
    """A Brier score: four decimals."""
    return "n/a" if value is None else f"{value:.4f}"


def kst(moment: datetime) -> str:
    return moment.astimezone(KST).strftime("%Y-%m-%d %H:%M KST")


def change(close: float | None, previous: float | None) -> float | None:
    if close is None or previous is None or previous == 0:
        return None
    return close / previous - 1.0


# --- facts --------------------------------------------------------------------------------------


class _Fact(BaseModel):
    model_config = ConfigDict(frozen=True)


class NewsItem(_Fact):
    article_id: int
    title: str
    url: str  # the article's canonical URL
    outlets: list[str]  # the sources that carried it: naver, hankyung, maeil, reddit
    codes: list[str]  # tracked stocks it is linked to
    published_at: datetime
    first_seen_at: datetime


class Filing(_Fact):
    rcept_no: str
    code: str | None
    corp_name: str
    report_name: str
    filer_name: str
    receipt_date: date
    first_seen_at: datetime

    @property
    def url(self) -> str:
        return DART_VIEWER.format(rcept_no=self.rcept_no)


class IndexMove(_Fact):
    name: str  # KOSPI | KOSDAQ
    index_code: str  # KIS: 0001 | 1001
    close: float | None
    previous_close: float | None

    @property
    def change(self) -> float | None:
        return change(self.close, self.previous_close)


class StockMove(_Fact):
    code: str
    name: str
    market: str
    close: float | None
    previous_close: float | None
    index: IndexMove | None

    @property
    def change(self) -> float | None:
        return change(self.close, self.previous_close)

    @property
    def excess(self) -> float | None:
        own, index = self.change, self.index.change if self.index is not None else None
        return None if own is None or index is None else own - index


class ModelCall(_Fact):
    """A model's forecast for the day (its latest version before the close) and how it turned out."""

    model: str
    direction: Literal["up", "down", "flat"]
    prob_up: float
    expected_return: float
    as_of: datetime
    outcome: Outcome
    realized_return: float | None = None


class Standing(_Fact):
    rank: int
    model: str
    n_predictions: int
    hit_rate: float | None
    ci_low: float | None
    ci_high: float | None
    brier: float | None


class Standings(_Fact):
    """One window of ``evaluations/leaderboard`` (the ``leaderboards`` table), as of a day: its live board (the
    leaderboard's default), or every forecast for a snapshot stored before live and late were told apart."""

    window: int
    as_of_date: date
    models: list[Standing]
    forecasts: Literal["live", "all"] = "live"
    late_left_out: int = 0  # late forecasts of the window on the full board, not in these standings


class ModelDay(_Fact):
    model: str
    forecasts: int
    hits: int
    misses: int
    pending: int

    @property
    def hit_rate(self) -> float | None:
        scored = self.hits + self.misses
        return self.hits / scored if scored else None


class Source(_Fact):
    """A numbered source of one report: what ``[n]`` in its text refers to."""

    n: int
    kind: Literal["filing", "news"]
    key: str  # disclosure:<rcept_no> | news:<article id>
    title: str
    url: str
    outlet: str
    codes: list[str]
    first_seen_at: datetime

    def stored(self) -> dict[str, Any]:
        return {**self.model_dump(mode="json")}


class _Day(_Fact):
    trading_date: date
    previous_session: date
    seen_after: datetime  # the previous session's close
    close_at: datetime  # this session's close: nothing first seen after it counts
    filings: list[Filing]
    news: list[NewsItem]
    filings_in_window: int  # before the cap on how many are shown
    news_in_window: int
    standings: Standings | None

    def sources(self) -> list[Source]:
        """Filings first, then news, numbered from 1 in the order they are shown."""
        out: list[Source] = []
        for f in self.filings:
            out.append(
                Source(
                    n=len(out) + 1,
                    kind="filing",
                    key=f"disclosure:{f.rcept_no}",
                    title=f"{f.corp_name} {f.report_name}",
                    url=f.url,
                    outlet="DART",
                    codes=[f.code] if f.code else [],
                    first_seen_at=f.first_seen_at,
                )
            )
        for a in self.news:
            out.append(
                Source(
                    n=len(out) + 1,
                    kind="news",
                    key=f"news:{a.article_id}",
                    title=a.title,
                    url=a.url,
                    outlet=", ".join(a.outlets) or "news",
                    codes=list(a.codes),
                    first_seen_at=a.first_seen_at,
                )
            )
        return out


class StockFacts(_Day):
    kind: Literal["stock"] = "stock"
    move: StockMove
    predictions: list[ModelCall]

    @property
    def scope(self) -> str:
        return self.move.code


class MarketFacts(_Day):
    kind: Literal["market"] = "market"
    indices: list[IndexMove]
    stocks: list[StockMove]
    models: list[ModelDay]

    @property
    def scope(self) -> str:
        return MARKET


ReportFacts = StockFacts | MarketFacts


# --- the view: every number formatted, once ---------------------------------------------------


def _index_view(index: IndexMove | None) -> dict[str, str] | None:
    if index is None:
        return None
    return {"name": index.name, "close": points(index.close), "change": pct(index.change)}


STANDINGS_FORECASTS = {
    "live": "live forecasts only (cut off and stored before 09:00 KST on their day)",
    "all": "all forecasts, late ones included (a snapshot from before live and late were told apart)",
}


def _standings_view(standings: Standings | None) -> dict[str, Any] | None:
    if standings is None:
        return None
    return {
        "window_trading_days": str(standings.window),
        "as_of": standings.as_of_date.isoformat(),
        "forecasts": STANDINGS_FORECASTS[standings.forecasts],
        "late_forecasts_left_out": str(standings.late_left_out),
        "models": [
            {
                "rank": str(s.rank),
                "model": s.model,
                "forecasts_scored": str(s.n_predictions),
                "hit_rate": share(s.hit_rate),
                "hit_rate_95ci": f"{share(s.ci_low)} to {share(s.ci_high)}",
                "brier": score(s.brier),
            }
            for s in standings.models
        ],
    }


def _documents_view(facts: _Day, names: dict[str, str]) -> dict[str, Any]:
    by_key = {s.key: s for s in facts.sources()}

    def stocks(codes: list[str]) -> list[str]:
        return [f"{names.get(c, c)} ({c})" for c in codes]

    return {
        "filings": [
            {
                "source": by_key[f"disclosure:{f.rcept_no}"].n,
                "title": f.report_name,
                "company": f.corp_name,
                "filer": f.filer_name,
                "stocks": stocks([f.code] if f.code else []),
                "first_seen": kst(f.first_seen_at),
            }
            for f in facts.filings
        ],
        "news": [
            {
                "source": by_key[f"news:{a.article_id}"].n,
                "title": a.title,
                "outlets": list(a.outlets),
                "stocks": stocks(list(a.codes)),
                "first_seen": kst(a.first_seen_at),
            }
            for a in facts.news
        ],
        "filings_in_window": str(facts.filings_in_window),
        "news_in_window": str(facts.news_in_window),
    }


def _stock_row(move: StockMove) -> dict[str, str]:
    return {
        "code": move.code,
        "name": move.name,
        "market": move.market,
        "close": won(move.close),
        "change": pct(move.change),
        "excess_over_index": pct(move.excess),
    }


def view(facts: ReportFacts) -> dict[str, Any]:
    """The facts as the report shows them: JSON-ready, every number a formatted string."""
    window = {
        "trading_date": facts.trading_date.isoformat(),
        "previous_session": facts.previous_session.isoformat(),
        "news_and_filings_first_seen": f"after {kst(facts.seen_after)} and by {kst(facts.close_at)}",
    }
    if isinstance(facts, StockFacts):
        move = facts.move
        names = {move.code: move.name}
        return {
            "report": "stock",
            **window,
            "stock": {
                "code": move.code,
                "name": move.name,
                "market": move.market,
                "close": won(move.close),
                "previous_close": won(move.previous_close),
                "change": pct(move.change),
            },
            "index": _index_view(move.index),
            "excess_over_index": pct(move.excess),
            **_documents_view(facts, names),
            "forecasts": [
                {
                    "model": p.model,
                    "call": p.direction,
                    "prob_up": share(p.prob_up),
                    "expected_return": pct(p.expected_return),
                    "outcome": p.outcome,
                    "realized_return": pct(p.realized_return),
                }
                for p in facts.predictions
            ],
            "standings": _standings_view(facts.standings),
        }
    names = {s.code: s.name for s in facts.stocks}
    changes = [s.change for s in facts.stocks if s.change is not None]
    return {
        "report": "market",
        **window,
        "indices": [_index_view(i) for i in facts.indices],
        "stocks": [_stock_row(s) for s in facts.stocks],
        "stocks_tracked": str(len(facts.stocks)),
        "stocks_up": str(sum(1 for c in changes if c > 0)),
        "stocks_down": str(sum(1 for c in changes if c < 0)),
        **_documents_view(facts, names),
        "models_today": [
            {
                "model": m.model,
                "forecasts": str(m.forecasts),
                "hits": str(m.hits),
                "misses": str(m.misses),
                "pending": str(m.pending),
                "hit_rate_today": share(m.hit_rate),
            }
            for m in facts.models
        ],
        "standings": _standings_view(facts.standings),
    }


def title(facts: ReportFacts) -> str:
    day = facts.trading_date.isoformat()
    if isinstance(facts, StockFacts):
        return f"{facts.move.name} ({facts.move.code}): {day}"
    return f"Market: {day}"
