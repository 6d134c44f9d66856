"""A deterministic simulated Korean stock market for the sandbox.

Everything here is pure Python + numpy (no web framework, no Dagster), so the sandbox routers, the
news generators of later issues and tests can share one source of truth.

Sessions
    The trading days are the real KRX sessions of ``exchange_calendars``' ``XKRX`` calendar
    (holidays, election days, substitute holidays, Dec 31 closures all absent). A session's bar
    exists only once that session has *closed* (its calendar close, normally 15:30 KST) as of the
    ``now`` a caller passes (default: the real clock).

Prices
    Per stock code, a seeded random walk of daily log returns, generated once for every session from
    ``history_start`` to the calendar's last session and cached; a bar therefore never depends on
    the range asked for, nor on how far the calendar reaches (each noise series has its own stream,
    so a longer calendar only appends draws). Seeds come from ``(seed, zlib.crc32(code))`` — stable across processes,
    unlike ``hash()``. Prices sit on the KRX tick grid of their day (the unified 2023-01-25 table
    from that day on, the older KOSPI/KOSDAQ tables before), closes stay within the ±30 % daily
    price limit of the previous close, and ``low <= open, close <= high`` always holds. There are no
    corporate actions, so adjusted and raw prices are equal (``adjusted`` is accepted for the API's
    sake). Volume grows with the size of the move and of the news; trade value is volume times a
    typical price inside the day's range.

The planted news relation (what a good pipeline should be able to find, and no more)
    Every (code, session) has a latent news tone in [-1, 1]::

        tone[t]  = tanh(TONE_SCALE * z[t]),                     z[t] ~ N(0, 1) i.i.d.
        r[t]     = MU + BETA * tone[t-1] + SIGMA_MARKET * m[t] + SIGMA_IDIO * e[t]
        close[t] = tick_round(close[t-1] * exp(r[t]))

    ``m[t]`` is one market-wide factor shared by all codes, ``e[t]`` idiosyncratic noise, both
    N(0, 1); total noise ``SIGMA = 2 %`` a day. With ``BETA = 0.0065`` the tone of the previous
    session explains about 4 % of the next close-to-close log return's variance (correlation
    ≈ ``PLANTED_CORRELATION`` = 0.20), detectable over a few hundred stock-days but far from a
    sure thing. Same-day tone carries nothing (a news item published on day t moves day t+1's
    close). The tone is defined for every session, also future ones: generators of news text must
    only use tones of sessions up to their own ``now``.

One-minute bars (``minute_bars``)
    Derived from the day's daily bar, deterministically from ``(seed, code, day)``, so that they add
    up to it exactly: the first bar opens at the day's open, the closing auction prints the day's
    close, the bars' highs and lows touch the day's high and low and never leave them, volumes sum
    to the daily volume and trade values to the daily trade value. The path is a chain of Brownian
    bridges in log price through four anchors (open, the day's low, the day's high, close at random
    minutes), rounded to the day's tick grid. Bars are stamped with the minute they start
    (``09:00`` … ``15:19``, 380 bars from a 09:00 open) and the 15:20–15:30 closing call auction is
    **one** bar stamped with the close (``15:30``) — KRX has no trades between 15:20 and the close.
    Opening times come from the calendar (10:00 on the first session of the year, and CSAT days as
    far as ``exchange_calendars`` knows them). A bar is visible once complete: at ``stamp + 1 min``;
    the auction bar at the close. Minutes without volume (only for very thin days) repeat the
    previous price.

Order book (``orderbook``)
    Ten levels each side on the tick grid around the current price, never crossed, cut at the daily
    price limits (empty levels are price 0); quantities deterministic per ``(seed, code, minute)``.

Fundamentals (``financials``)
    Yearly (December year ends) and quarterly statements from 1990, in 억원, anchored so that the
    FY before ``history_start`` matches the profile's EPS and BPS. assets = liabilities + equity,
    current + fixed = total hold exactly on the integers served. Quarterly income lines are
    year-to-date cumulative, as KIS serves them. A period becomes visible 45 days after a quarter
    end (Q1–Q3) and 90 days after a year end (annual report).

Indices (``index_bars``)
    0001 (KOSPI, "종합"), 1001 (KOSDAQ) and 2001 (KOSPI200) follow the market factor ``m[t]`` the
    stocks share, with their own small noise: index returns correlate with the stocks'. Levels start
    near the real 2020-01-02 closes; values have two decimals; volume is in thousands of shares and
    trade value in millions of won, as KIS serves index bars.
"""

from __future__ import annotations

import itertools
import math
import threading
import warnings
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import exchange_calendars
import numpy as np

from stock_insights import clock
from stock_insights.universe import KNOWN_LISTINGS

KST = ZoneInfo("Asia/Seoul")

# --- the planted relation (documented in the module docstring) ---------------------------------
MU = 0.0002  # daily drift of the log return
BETA = 0.0065  # log-return response to the previous session's tone
SIGMA = 0.02  # total daily noise
SIGMA_MARKET = 0.01  # part of SIGMA shared by every code
SIGMA_IDIO = math.sqrt(SIGMA**2 - SIGMA_MARKET**2)
TONE_SCALE = 1.0  # tone = tanh(TONE_SCALE * N(0,1)); sd(tone) ≈ 0.628
_TONE_SD = 0.6279  # sqrt(E[tanh(Z)^2]) for Z ~ N(0, 1)
PLANTED_CORRELATION = BETA * _TONE_SD / math.sqrt((BETA * _TONE_SD) ** 2 + SIGMA**2)

# --- KRX rules ---------------------------------------------------------------------------------
PRICE_LIMIT = 0.30  # ±30 % of the previous close since 2015-06-15
TICK_REFORM_DAY = date(2023, 1, 25)  # unified KOSPI/KOSDAQ tick table from this day on

ListingMarket = Literal["KOSPI", "KOSDAQ"]

# --- shape of the simulated bars (not part of the planted relation) ---------------------------
# The walk is clipped well inside the price limit so that tick rounding can never push a close
# over it; the exact limit is still enforced afterwards.
_LOG_RETURN_CLIP = math.log(1.25)
_OPEN_SHARE = 0.35  # share of the day's return already in the opening gap
_GAP_SD = 0.006
_WICK_SD = 0.008
_VOLUME_SD = 0.5
_SALT_TONE, _SALT_PRICE, _SALT_PROFILE, _SALT_MARKET = 1, 2, 3, 0x6D6B74
_SALT_MINUTE, _SALT_BOOK, _SALT_FUNDAMENTALS, _SALT_INDEX = 4, 5, 6, 0x696478

# --- intraday session shape --------------------------------------------------------------------
CLOSING_AUCTION = timedelta(minutes=10)  # 15:20–15:30: orders only, one print at the close
BOOK_OPENS_BEFORE_OPEN = timedelta(minutes=30)  # the opening call takes orders from 08:30
AFTER_HOURS_END = time(18, 0)  # 시간외 단일가 ends; the book's last change of the day
_MINUTE = timedelta(minutes=1)
_NS_PER_MINUTE = 60_000_000_000
_MINUTE_CACHE_SIZE = 256
_WICK_SD_MINUTE = 0.0006

# --- fundamentals ------------------------------------------------------------------------------
FUNDAMENTALS_FIRST_YEAR = 1990
FUNDAMENTALS_LAST_YEAR = 2060  # fixed: how far the calendar reaches must not change past statements
QUARTER_REPORT_LAG = timedelta(days=45)
ANNUAL_REPORT_LAG = timedelta(days=90)
_TAX_RATE = 0.22

# --- indices -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _IndexSpec:
    name: str  # hts_kor_isnm as KIS sends it
    base: float  # level before the first simulated session
    beta: float  # loading on the shared market factor
    idio: float  # daily sd of the index's own noise
    volume: float  # typical daily volume, thousands of shares
    value: float  # typical daily trade value, millions of won


INDEX_SPECS: dict[str, _IndexSpec] = {
    "0001": _IndexSpec("종합", 2175.17, 1.0, 0.002, 600_000, 9_000_000),
    "1001": _IndexSpec("KOSDAQ", 674.02, 1.25, 0.004, 1_100_000, 7_000_000),
    "2001": _IndexSpec("KOSPI200", 290.60, 1.03, 0.0015, 120_000, 5_500_000),
}

# Rough 2020-01 price levels of the known listings, so the sandbox looks familiar; the walk
# then goes its own way.
_KNOWN_BASE_PRICES: dict[str, int] = {
    "005930": 55_200, "000660": 94_700, "035420": 182_500, "035720": 30_700, "005380": 118_000,
    "051910": 314_000, "068270": 180_000, "247540": 50_000, "373220": 450_000, "207940": 430_000,
    "005490": 236_000, "000270": 43_000, "105560": 47_000, "055550": 43_000, "012330": 262_000,
    "028260": 107_000, "006400": 238_000, "066570": 72_000, "003550": 75_000, "017670": 47_000,
    "030200": 26_000, "032830": 75_000, "086790": 37_000, "015760": 27_000, "096770": 150_000,
    "034730": 250_000, "018260": 190_000, "011200": 3_500, "086520": 25_000, "091990": 55_000,
    "263750": 190_000, "293490": 20_000, "196170": 60_000, "028300": 25_000,
}
# Real share counts and par values where a real answer was seen (wire samples).
_KNOWN_SHARES: dict[str, int] = {"005930": 5_969_782_550, "000660": 728_002_365}
_KNOWN_PAR_VALUES: dict[str, int] = {"005930": 100, "000660": 5_000}
_PAR_VALUES = (100, 200, 500, 1_000, 2_500, 5_000)


@lru_cache(maxsize=4)
def krx_calendar(end: date | None = None) -> exchange_calendars.ExchangeCalendar:
    """The XKRX calendar; building it takes ~2 s, so it is built once per process (and ``end``).

    Without ``end`` the calendar reaches about a year past today (``exchange_calendars``' default).
    Nothing simulated for a day may depend on how far it reaches: only which days exist does.
    """
    with warnings.catch_warnings():
        # exchange_calendars itself trips a pandas deprecation (Series.values on tz-aware data);
        # it is not ours to fix and would repeat in every test run.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        if end is None:
            return exchange_calendars.get_calendar("XKRX")
        return exchange_calendars.get_calendar("XKRX", end=end.isoformat())


# --- tick sizes --------------------------------------------------------------------------------

def _tick_array(prices: np.ndarray, new_regime: np.ndarray, kosdaq: bool) -> np.ndarray:
    p = prices
    new = np.select(
        [p < 2_000, p < 5_000, p < 20_000, p < 50_000, p < 200_000, p < 500_000],
        [1, 5, 10, 50, 100, 500], 1_000,
    )
    if kosdaq:
        old = np.select([p < 1_000, p < 5_000, p < 10_000, p < 50_000], [1, 5, 10, 50], 100)
    else:
        old = np.select(
            [p < 1_000, p < 5_000, p < 10_000, p < 50_000, p < 100_000, p < 500_000],
            [1, 5, 10, 50, 100, 500], 1_000,
        )
    return np.where(new_regime, new, old)


def _round_nearest(v: np.ndarray, new_regime: np.ndarray, kosdaq: bool) -> np.ndarray:
    t = _tick_array(v, new_regime, kosdaq)
    return (np.round(v / t) * t).astype(np.int64)


def _round_up(v: np.ndarray, new_regime: np.ndarray, kosdaq: bool) -> np.ndarray:
    t = _tick_array(v, new_regime, kosdaq)
    return (np.ceil(v / t - 1e-9) * t).astype(np.int64)


def _round_down(v: np.ndarray, new_regime: np.ndarray, kosdaq: bool) -> np.ndarray:
    t = _tick_array(v, new_regime, kosdaq)
    return np.maximum(np.floor(v / t + 1e-9) * t, 1).astype(np.int64)


def _limits(prev: np.ndarray, new_regime: np.ndarray, kosdaq: bool) -> tuple[np.ndarray, np.ndarray]:
    lower = _round_up(prev * (1 - PRICE_LIMIT), new_regime, kosdaq)
    upper = _round_down(prev * (1 + PRICE_LIMIT), new_regime, kosdaq)
    return lower, upper


def tick_size(price: float, day: date, market: ListingMarket = "KOSPI") -> int:
    """The KRX price tick for ``price`` on ``day`` (tables before/after the 2023-01-25 reform)."""
    arr = _tick_array(np.array([float(price)]), np.array([day >= TICK_REFORM_DAY]), market == "KOSDAQ")
    return int(arr[0])


def price_limits(prev_close: int, day: date, market: ListingMarket = "KOSPI") -> tuple[int, int]:
    """(하한가, 상한가) for ``day`` given the previous close: ±30 %, rounded inwards to the tick."""
    lower, upper = _limits(np.array([float(prev_close)]), np.array([day >= TICK_REFORM_DAY]),
                           market == "KOSDAQ")
    return int(lower[0]), int(upper[0])


# --- public value types ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Bar:
    day: date
    open: int
    high: int
    low: int
    close: int
    volume: int
    value: int  # trade value in KRW (KIS acml_tr_pbmn)


@dataclass(frozen=True, slots=True)
class StockProfile:
    """Static, deterministic facts about a simulated stock (used for quote fields like PER)."""

    code: str
    name: str
    market: ListingMarket
    base_price: int  # the close before the first simulated session
    shares_outstanding: int
    par_value: int
    eps: float
    bps: float
    loan_balance_ratio: float  # 전체 융자 잔고 비율, percent


@dataclass(frozen=True)
class DailySeries:
    """Bars of one code as parallel numpy arrays (the fast path for many stocks)."""

    code: str
    days: np.ndarray  # datetime64[D]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    value: np.ndarray
    tone: np.ndarray  # tone of the same session

    def __len__(self) -> int:
        return len(self.days)

    def to_bars(self) -> list[Bar]:
        return [
            Bar(d, o, h, lo, c, v, val)
            for d, o, h, lo, c, v, val in zip(
                _dates(self.days), self.open.tolist(), self.high.tolist(),
                self.low.tolist(), self.close.tolist(), self.volume.tolist(), self.value.tolist(),
                strict=True,
            )
        ]


@dataclass(frozen=True, slots=True)
class MinuteBar:
    """One one-minute bar (see the module docstring for stamps and visibility)."""

    day: date
    time: datetime  # KST stamp (KIS stck_cntg_hour): the minute's start; the closing auction at the close
    open: int
    high: int
    low: int
    close: int
    volume: int  # KIS cntg_vol
    value: int  # trade value of this bar, KRW
    cum_volume: int  # the day's volume up to and including this bar
    cum_value: int  # the day's trade value up to and including this bar (KIS acml_tr_pbmn)


SessionPhase = Literal["pre_open", "open", "closing_auction", "closed"]


@dataclass(frozen=True, slots=True)
class IntradaySnapshot:
    """A stock as of a moment: the session it belongs to and what has traded so far.

    ``pre_open``: ``day`` is today's session and nothing has traded (price = previous close).
    ``open``/``closing_auction``: ``day`` is today, figures cover the bars complete at ``at``.
    ``closed``: ``day`` is the latest session that has closed; figures are the whole day.
    """

    code: str
    at: datetime
    day: date
    phase: SessionPhase
    price: int
    prev_close: int
    open: int | None  # None before the first trade
    high: int | None
    low: int | None
    volume: int
    value: int


@dataclass(frozen=True, slots=True)
class OrderBookSnapshot:
    """Ten-level book; level 1 first. A level price of 0 is an empty level (beyond the price limit)."""

    code: str
    at: datetime
    day: date  # the session the book belongs to
    phase: SessionPhase
    accepted_at: time  # KIS aspr_acpt_hour
    price: int
    prev_close: int  # 기준가 (stck_sdpr)
    open: int | None
    high: int | None
    low: int | None
    asks: tuple[tuple[int, int], ...]  # (price, quantity), ascending
    bids: tuple[tuple[int, int], ...]  # (price, quantity), descending
    expected_price: int  # the call auction's (expected) price: opening call until 15:20, then closing
    expected_volume: int
    lower_limit: int
    upper_limit: int
    after_hours_ask: int
    after_hours_bid: int


@dataclass(frozen=True, slots=True)
class FinancialPeriod:
    """One statement period in 억원 (ratios in percent, per-share figures in won).

    Quarterly income lines and per-share income figures are year-to-date cumulative; balance-sheet
    lines are at the period end. Growth rates compare with the same period a year earlier and are
    ``None`` without one.
    """

    period: str  # stac_yymm, the period end YYYYMM
    period_end: date
    quarter: int  # 1..4; yearly rows are the fourth quarter's year-end figures
    available_from: date  # the first day the period may be served
    revenue: int  # sale_account
    cost_of_sales: int  # sale_cost
    gross_profit: int  # sale_totl_prfi
    operating_profit: int  # bsop_prti
    pretax_profit: int  # op_prfi (경상이익)
    net_income: int  # thtr_ntin
    current_assets: int  # cras
    fixed_assets: int  # fxas
    total_assets: int  # total_aset
    current_liabilities: int  # flow_lblt
    fixed_liabilities: int  # fix_lblt
    total_liabilities: int  # total_lblt
    capital_stock: int  # cpfn
    total_equity: int  # total_cptl
    revenue_growth: float | None  # grs
    operating_profit_growth: float | None  # bsop_prfi_inrt (0 when either side is a loss, as KIS)
    net_income_growth: float | None  # ntin_inrt (same rule)
    roe: float  # roe_val, annualised
    eps: float
    sps: float  # annualised sales per share
    bps: float
    reserve_ratio: float  # rsrv_rate, (equity - capital stock) / capital stock
    debt_ratio: float  # lblt_rate, liabilities / equity


@dataclass(frozen=True, slots=True)
class IndexBar:
    day: date
    open: float
    high: float
    low: float
    close: float
    volume: int  # thousands of shares
    value: int  # millions of won


@dataclass(frozen=True)
class _MinuteDay:
    stamps_ns: np.ndarray  # int64 epoch ns of each bar's stamp
    ready_ns: np.ndarray  # int64 epoch ns from which each bar is visible (non-decreasing)
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    value: np.ndarray
    open_auction_volume: int
    close_auction_volume: int


@dataclass(frozen=True)
class IndexSeries:
    """Index bars as parallel numpy arrays (floats with two decimals; see ``IndexBar`` for units)."""

    code: str
    days: np.ndarray  # datetime64[D]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return len(self.days)

    def to_bars(self) -> list[IndexBar]:
        return [
            IndexBar(d, o, h, lo, c, v, val)
            for d, o, h, lo, c, v, val in zip(
                _dates(self.days), self.open.tolist(), self.high.tolist(), self.low.tolist(),
                self.close.tolist(), self.volume.tolist(), self.value.tolist(), strict=True,
            )
        ]


@dataclass(frozen=True)
class _Series:
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    value: np.ndarray
    tone: np.ndarray


def _dates(days: np.ndarray) -> list[date]:
    # ``astype(object)`` is slow; building dates from day ordinals is ~10x faster.
    base = _EPOCH_ORDINAL
    return [date.fromordinal(base + d) for d in days.astype(np.int64).tolist()]


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _to_datetime64(day: date) -> np.datetime64:
    return np.datetime64(day.isoformat(), "D")


def _now_ns(now: datetime | None) -> int:
    if now is None:
        now = clock.now_kst()
    elif now.tzinfo is None:
        now = now.replace(tzinfo=KST)  # a naive wall clock here means Korean time
    return int(now.timestamp() * 1_000_000) * 1_000


class SimulatedMarket:
    """Deterministic daily bars and news tone for any 6-character KRX code.

    Two markets built with the same ``seed`` and ``history_start`` give identical answers in any
    process. Per-code series are cached (LRU, ``cache_size`` codes).
    """

    def __init__(self, seed: int = 7, history_start: date = date(2020, 1, 2), *, cache_size: int = 512,
                 calendar_end: date | None = None):
        cal = krx_calendar(calendar_end)
        first = max(history_start, cal.first_session.date())
        sessions = cal.sessions_in_range(first.isoformat(), cal.last_session)
        if len(sessions) < 2:
            raise ValueError(f"history_start {history_start} leaves no sessions in the XKRX calendar")
        self.seed = int(seed)
        self.history_start = history_start
        self._days: np.ndarray = sessions.values.astype("datetime64[D]")
        self._opens_ns: np.ndarray = np.asarray(cal.opens.loc[sessions].array.asi8, dtype=np.int64)
        self._closes_ns: np.ndarray = np.asarray(cal.closes.loc[sessions].array.asi8, dtype=np.int64)
        self._new_regime: np.ndarray = self._days >= _to_datetime64(TICK_REFORM_DAY)
        self._market_noise = np.random.default_rng([self.seed, _SALT_MARKET]).standard_normal(len(self._days))
        self._cache: OrderedDict[str, _Series] = OrderedDict()
        self._profiles: dict[str, StockProfile] = {}
        self._cache_size = cache_size
        self._minute_cache: OrderedDict[tuple[str, date], _MinuteDay] = OrderedDict()
        self._fundamentals: dict[str, tuple[list[FinancialPeriod], list[FinancialPeriod]]] = {}
        self._indices: dict[str, IndexSeries] = {}
        self._lock = threading.Lock()

    # --- calendar ------------------------------------------------------------------------------

    @property
    def first_session(self) -> date:
        return self._days[0].astype(object)

    @property
    def last_session(self) -> date:
        """Last session the calendar knows (about a year ahead of today)."""
        return self._days[-1].astype(object)

    def sessions(self, start: date, end: date) -> list[date]:
        """KRX sessions in [start, end] (clipped to the simulated history)."""
        i0, i1 = self._index_range(start, end)
        return self._days[i0:i1].astype(object).tolist()

    def is_session(self, day: date) -> bool:
        i = int(np.searchsorted(self._days, _to_datetime64(day)))
        return i < len(self._days) and self._days[i] == _to_datetime64(day)

    def session_open(self, day: date) -> datetime:
        """The session's opening time in KST (09:00; 10:00 on the first session of a year)."""
        i = self._session_index(day)
        return datetime.fromtimestamp(self._opens_ns[i] / 1e9, tz=KST)

    def session_close(self, day: date) -> datetime:
        """The session's closing time in KST (15:30, later on CSAT days)."""
        i = self._session_index(day)
        return datetime.fromtimestamp(self._closes_ns[i] / 1e9, tz=KST)

    def last_closed_session(self, now: datetime | None = None) -> date | None:
        """The latest session whose close is at or before ``now``; None before the history."""
        n = int(np.searchsorted(self._closes_ns, _now_ns(now), side="right"))
        return self._days[n - 1].astype(object) if n else None

    def previous_session(self, day: date) -> date | None:
        i = int(np.searchsorted(self._days, _to_datetime64(day)))
        return self._days[i - 1].astype(object) if i > 0 else None

    # --- listings ------------------------------------------------------------------------------

    def name(self, code: str) -> str:
        """The listing's name today (as KIS answers it: the current name), from ``sandbox/listings.py``."""
        from stock_insights.sandbox.listings import listings_by_code

        listing = listings_by_code(self.seed).get(code)
        if listing is not None:
            return listing.name_on(clock.today_kst())
        known = KNOWN_LISTINGS.get(code)
        return known.name if known else f"종목{code}"

    def listing_market(self, code: str) -> ListingMarket:
        from stock_insights.sandbox.listings import listings_by_code

        listing = listings_by_code(self.seed).get(code) or KNOWN_LISTINGS.get(code)
        return listing.market if listing else "KOSPI"

    def profile(self, code: str) -> StockProfile:
        cached = self._profiles.get(code)
        if cached is None:
            cached = self._profiles[code] = self._make_profile(code)
        return cached

    def _make_profile(self, code: str) -> StockProfile:
        u = np.random.default_rng([self.seed, zlib.crc32(code.encode()), _SALT_PROFILE]).random(8)
        market = self.listing_market(code)
        first_regime = np.array([bool(self._new_regime[0])])
        raw_base = _KNOWN_BASE_PRICES.get(code) or math.exp(math.log(3_000) + u[0] * math.log(300_000 / 3_000))
        base = int(_round_nearest(np.array([float(raw_base)]), first_regime, market == "KOSDAQ")[0])
        market_cap = math.exp(math.log(2e11) + u[1] * math.log(100))  # 2천억 .. 20조 KRW
        shares = _KNOWN_SHARES.get(code) or max(int(market_cap / base) // 100 * 100, 100_000)
        par = _KNOWN_PAR_VALUES.get(code) or _PAR_VALUES[int(u[2] * len(_PAR_VALUES))]
        per0 = 5 + 35 * u[3]
        eps = base / per0 * (-0.5 if u[4] < 0.15 else 1.0)  # some companies lose money
        bps = base / (0.4 + 3.6 * u[5])
        return StockProfile(
            code=code, name=self.name(code), market=market, base_price=base,
            shares_outstanding=shares, par_value=par, eps=round(float(eps), 2), bps=round(float(bps), 2),
            loan_balance_ratio=round(1.5 * float(u[6]), 2),
        )

    # --- series --------------------------------------------------------------------------------

    def tone(self, code: str, day: date) -> float:
        """Latent news tone of ``code`` on session ``day``, in [-1, 1]. Raises for non-sessions."""
        return float(self._series(code).tone[self._session_index(day)])

    def tones(self, code: str, start: date, end: date) -> list[tuple[date, float]]:
        i0, i1 = self._index_range(start, end)
        days = self._days[i0:i1].astype(object).tolist()
        return list(zip(days, self._series(code).tone[i0:i1].tolist(), strict=True))

    def daily_arrays(self, code: str, start: date, end: date, *, now: datetime | None = None,
                     adjusted: bool = True) -> DailySeries:
        """Bars of sessions in [start, end] that have closed as of ``now``, oldest first."""
        del adjusted  # no corporate actions are simulated: adjusted == raw
        i0, i1 = self._index_range(start, end)
        i1 = min(i1, int(np.searchsorted(self._closes_ns, _now_ns(now), side="right")))
        i1 = max(i0, i1)
        s = self._series(code)
        return DailySeries(
            code=code, days=self._days[i0:i1], open=s.open[i0:i1], high=s.high[i0:i1], low=s.low[i0:i1],
            close=s.close[i0:i1], volume=s.volume[i0:i1], value=s.value[i0:i1], tone=s.tone[i0:i1],
        )

    def daily_bars(self, code: str, start: date, end: date, *, now: datetime | None = None,
                   adjusted: bool = True) -> list[Bar]:
        """Like ``daily_arrays`` but as a list of ``Bar``, oldest first.

        Building ~300k ``Bar`` objects costs about as much as generating the walks; callers that
        crunch many stocks should use ``daily_arrays``.
        """
        return self.daily_arrays(code, start, end, now=now, adjusted=adjusted).to_bars()

    def previous_close(self, code: str, day: date) -> int:
        """Close of the session before ``day`` (the profile's base price before the history)."""
        i = int(np.searchsorted(self._days, _to_datetime64(day)))
        return int(self._series(code).close[i - 1]) if i > 0 else self.profile(code).base_price

    # --- intraday ------------------------------------------------------------------------------

    def minute_bars(self, code: str, day: date, now: datetime | None = None) -> list[MinuteBar]:
        """One-minute bars of session ``day`` complete at ``now`` (default: the real clock), oldest first.

        Empty when ``day`` is not a session. Bars never depend on ``now`` other than through which
        of them are visible, so later calls only ever append.
        """
        if not self.is_session(day):
            return []
        md = self._minute_day(code, day)
        n = int(np.searchsorted(md.ready_ns, _now_ns(now), side="right"))
        if n == 0:
            return []
        cum_volume = np.cumsum(md.volume[:n]).tolist()
        cum_value = np.cumsum(md.value[:n]).tolist()
        return [
            MinuteBar(day, datetime.fromtimestamp(stamp // 1_000_000_000, tz=KST), o, h, lo, c, v, val, cv, cval)
            for stamp, o, h, lo, c, v, val, cv, cval in zip(
                md.stamps_ns[:n].tolist(), md.open[:n].tolist(), md.high[:n].tolist(), md.low[:n].tolist(),
                md.close[:n].tolist(), md.volume[:n].tolist(), md.value[:n].tolist(), cum_volume, cum_value,
                strict=True,
            )
        ]

    def snapshot(self, code: str, at: datetime | None = None) -> IntradaySnapshot:
        """Where ``code`` stands at ``at``: today's session so far, or the last closed session."""
        at = _kst(at)
        at_ns = _now_ns(at)
        today = at.date()
        s = self._series(code)
        if self.is_session(today):
            i = self._session_index(today)
            prev_close = self.previous_close(code, today)
            if at_ns < self._opens_ns[i]:
                return IntradaySnapshot(code, at, today, "pre_open", prev_close, prev_close, None, None, None, 0, 0)
            if at_ns < self._closes_ns[i]:
                phase: SessionPhase = (
                    "closing_auction" if at_ns >= self._closes_ns[i] - _ns(CLOSING_AUCTION) else "open"
                )
                day_open = int(s.open[i])
                bars = self.minute_bars(code, today, at)
                if not bars:
                    # The opening call printed at the open; its minute bar is not complete yet.
                    volume = self._minute_day(code, today).open_auction_volume
                    return IntradaySnapshot(code, at, today, phase, day_open, prev_close, day_open, day_open,
                                            day_open, volume, volume * day_open)
                return IntradaySnapshot(
                    code, at, today, phase, bars[-1].close, prev_close, day_open, max(b.high for b in bars),
                    min(b.low for b in bars), bars[-1].cum_volume, bars[-1].cum_value,
                )
        last = self.last_closed_session(at)
        if last is None:
            base = self.profile(code).base_price
            return IntradaySnapshot(code, at, self.first_session, "pre_open", base, base, None, None, None, 0, 0)
        i = self._session_index(last)
        return IntradaySnapshot(
            code, at, last, "closed", int(s.close[i]), self.previous_close(code, last), int(s.open[i]),
            int(s.high[i]), int(s.low[i]), int(s.volume[i]), int(s.value[i]),
        )

    def orderbook(self, code: str, at: datetime | None = None) -> OrderBookSnapshot:
        """The ten-level book at ``at``; deterministic per ``(seed, code, minute)``.

        From 08:30 on a session day the book is today's (centred on the expected open before 09:00);
        after the close it stays at its closing state, stamped up to 18:00; before 08:30 it is the
        previous session's closing book.
        """
        at = _kst(at)
        snap = self.snapshot(code, at)
        at_minute = at.replace(second=0, microsecond=0)
        if snap.phase == "pre_open" and self.is_session(snap.day):
            opens_at = self.session_open(snap.day)
            previous = self.previous_session(snap.day)
            if at < opens_at - BOOK_OPENS_BEFORE_OPEN and previous is not None:
                snap = self.snapshot(code, self.session_close(previous))
        day = snap.day
        i = self._session_index(day)
        s = self._series(code)
        md = self._minute_day(code, day)
        if snap.phase == "closed":
            closed_at = self.session_close(day)
            book_minute = closed_at
            accepted = min(at_minute.time(), AFTER_HOURS_END) if at.date() == day else AFTER_HOURS_END
            accepted = max(accepted, closed_at.time())
        else:
            book_minute = at_minute
            accepted = at_minute.time()
        rng = np.random.default_rng(
            [self.seed, zlib.crc32(code.encode()), _SALT_BOOK, int(book_minute.timestamp()) // 60]
        )
        if snap.phase == "pre_open":
            center, bid_at_center = int(s.open[i]), True  # orders gather around the expected open
        elif snap.phase == "closed":
            center, bid_at_center = snap.price, True  # as in the 2024-06-11 capture: best bid = close
        else:
            center, bid_at_center = snap.price, bool(rng.random() < 0.5)
        market = self.profile(code).market
        lower, upper = price_limits(snap.prev_close, day, market)
        ask_prices, bid_prices = [], []
        ask = center + tick_size(center, day, market) if bid_at_center else center
        bid = center if bid_at_center else center - tick_size(center - 1, day, market)
        for _ in range(10):
            ask_prices.append(ask if lower <= ask <= upper else 0)
            bid_prices.append(bid if lower <= bid <= upper and bid > 0 else 0)
            ask += tick_size(ask, day, market)
            bid -= tick_size(max(bid - 1, 1), day, market)
        scale = max(1.0, float(s.volume[i]) / 400)
        tilt = rng.normal(0, 0.4)
        depth = 1 + 0.1 * np.arange(10)
        ask_qty = np.maximum(1, np.round(scale * np.exp(tilt) * depth * rng.lognormal(0, 0.8, 10))).astype(int)
        bid_qty = np.maximum(1, np.round(scale * np.exp(-tilt) * depth * rng.lognormal(0, 0.8, 10))).astype(int)
        asks = tuple((p, int(q) if p else 0) for p, q in zip(ask_prices, ask_qty.tolist(), strict=True))
        bids = tuple((p, int(q) if p else 0) for p, q in zip(bid_prices, bid_qty.tolist(), strict=True))
        if snap.phase in ("pre_open", "open"):
            expected = (int(s.open[i]), md.open_auction_volume)
        else:
            expected = (int(s.close[i]), md.close_auction_volume)
        after_ask = after_bid = 0
        if snap.phase == "closed":
            after_ask, after_bid = (int(v) for v in np.round(scale * rng.lognormal(0, 1.0, 2)))
        return OrderBookSnapshot(
            code=code, at=at, day=day, phase=snap.phase, accepted_at=accepted, price=snap.price,
            prev_close=snap.prev_close, open=snap.open, high=snap.high, low=snap.low, asks=asks, bids=bids,
            expected_price=expected[0], expected_volume=expected[1], lower_limit=lower, upper_limit=upper,
            after_hours_ask=after_ask, after_hours_bid=after_bid,
        )

    # --- fundamentals --------------------------------------------------------------------------

    def financials(self, code: str, *, quarterly: bool = False, now: datetime | None = None) -> list[FinancialPeriod]:
        """Statement periods of ``code`` published by ``now`` (default: the real clock), oldest first."""
        with self._lock:
            cached = self._fundamentals.get(code)
        if cached is None:
            cached = self._generate_fundamentals(code)
            with self._lock:
                self._fundamentals[code] = cached
        today = _kst(now).date()
        rows = cached[1] if quarterly else cached[0]
        return [row for row in rows if row.available_from <= today]

    # --- indices -------------------------------------------------------------------------------

    def index_name(self, index_code: str) -> str:
        """KIS's hts_kor_isnm of a simulated index; ValueError for codes not simulated."""
        return self._index_spec(index_code).name

    def index_arrays(self, index_code: str, start: date, end: date, *, now: datetime | None = None) -> IndexSeries:
        """Index bars of sessions in [start, end] that have closed as of ``now``, oldest first."""
        full = self._index_series(index_code)
        i0, i1 = self._index_range(start, end)
        i1 = max(i0, min(i1, int(np.searchsorted(self._closes_ns, _now_ns(now), side="right"))))
        return IndexSeries(
            code=index_code, days=self._days[i0:i1], open=full.open[i0:i1], high=full.high[i0:i1],
            low=full.low[i0:i1], close=full.close[i0:i1], volume=full.volume[i0:i1], value=full.value[i0:i1],
        )

    def index_bars(self, index_code: str, start: date, end: date, *, now: datetime | None = None) -> list[IndexBar]:
        """Like ``index_arrays`` but as a list of ``IndexBar``."""
        return self.index_arrays(index_code, start, end, now=now).to_bars()

    def previous_index_close(self, index_code: str, day: date) -> float:
        """Index close of the session before ``day`` (the base level before the history)."""
        i = int(np.searchsorted(self._days, _to_datetime64(day)))
        return float(self._index_series(index_code).close[i - 1]) if i > 0 else self._index_spec(index_code).base

    # --- internals -----------------------------------------------------------------------------

    def _index_range(self, start: date, end: date) -> tuple[int, int]:
        i0 = int(np.searchsorted(self._days, _to_datetime64(start), side="left"))
        i1 = int(np.searchsorted(self._days, _to_datetime64(end), side="right"))
        return i0, max(i0, i1)

    def _session_index(self, day: date) -> int:
        i = int(np.searchsorted(self._days, _to_datetime64(day)))
        if i >= len(self._days) or self._days[i] != _to_datetime64(day):
            raise ValueError(f"{day} is not a simulated KRX session")
        return i

    def _series(self, code: str) -> _Series:
        with self._lock:
            series = self._cache.get(code)
            if series is not None:
                self._cache.move_to_end(code)
                return series
        series = self._generate(code)
        with self._lock:
            self._cache[code] = series
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return series

    def _generate(self, code: str) -> _Series:
        n = len(self._days)
        crc = zlib.crc32(code.encode())
        prof = self.profile(code)
        kosdaq = prof.market == "KOSDAQ"
        regime = self._new_regime

        # Tone has its own stream so that the price noise never depends on how tone is drawn.
        tone = np.tanh(TONE_SCALE * np.random.default_rng([self.seed, crc, _SALT_TONE]).standard_normal(n))
        idio, gap, up, down, vol_noise = _streams([self.seed, crc, _SALT_PRICE], 5, n)

        r = MU + SIGMA_MARKET * self._market_noise + SIGMA_IDIO * idio
        r[1:] += BETA * tone[:-1]
        r = np.clip(r, -_LOG_RETURN_CLIP, _LOG_RETURN_CLIP)
        base = float(prof.base_price)
        close = _round_nearest(base * np.exp(np.cumsum(r)), regime, kosdaq)

        # Enforce the exact ±30 % limit against the *rounded* previous close. Each pass fixes the
        # first violation for good, so this ends; in practice it never loops.
        while True:
            prev = np.concatenate(([base], close[:-1].astype(np.float64)))
            lower, upper = _limits(prev, regime, kosdaq)
            bad = (close < lower) | (close > upper)
            if not bad.any():
                break
            close = np.where(bad, np.clip(close, lower, upper), close)

        open_ = np.clip(_round_nearest(prev * np.exp(_OPEN_SHARE * r + _GAP_SD * gap), regime, kosdaq),
                        lower, upper)
        body_top = np.maximum(open_, close).astype(np.float64)
        body_bottom = np.minimum(open_, close).astype(np.float64)
        high = np.minimum(_round_up(body_top * np.exp(_WICK_SD * np.abs(up)), regime, kosdaq), upper)
        low = np.maximum(_round_down(body_bottom * np.exp(-_WICK_SD * np.abs(down)), regime, kosdaq), lower)

        realized = np.abs(np.log(close / prev))
        prev_tone = np.concatenate(([0.0], np.abs(tone[:-1])))
        turnover = 0.0005 + 0.0075 * (zlib.crc32(code.encode() + b"turnover") % 1000) / 1000
        volume = prof.shares_outstanding * turnover * np.exp(_VOLUME_SD * vol_noise - _VOLUME_SD**2 / 2)
        volume = np.maximum(np.round(volume * (1 + 10 * realized) * (1 + 0.5 * prev_tone)), 1).astype(np.int64)
        typical = (high + low + 2 * close) / 4.0
        value = np.round(volume * typical).astype(np.int64)

        return _Series(
            open=open_.astype(np.int32), high=high.astype(np.int32), low=low.astype(np.int32),
            close=close.astype(np.int32), volume=volume, value=value, tone=tone,
        )


    def _minute_day(self, code: str, day: date) -> _MinuteDay:
        key = (code, day)
        with self._lock:
            cached = self._minute_cache.get(key)
            if cached is not None:
                self._minute_cache.move_to_end(key)
                return cached
        md = self._generate_minutes(code, day)
        with self._lock:
            self._minute_cache[key] = md
            while len(self._minute_cache) > _MINUTE_CACHE_SIZE:
                self._minute_cache.popitem(last=False)
        return md

    def _generate_minutes(self, code: str, day: date) -> _MinuteDay:
        i = self._session_index(day)
        s = self._series(code)
        o, h, lo, c = int(s.open[i]), int(s.high[i]), int(s.low[i]), int(s.close[i])
        day_volume, day_value = int(s.volume[i]), int(s.value[i])
        open_ns, close_ns = int(self._opens_ns[i]), int(self._closes_ns[i])
        n = (close_ns - open_ns - _ns(CLOSING_AUCTION)) // _NS_PER_MINUTE  # continuous-trading bars
        stamps = np.append(open_ns + np.arange(n, dtype=np.int64) * _NS_PER_MINUTE, close_ns)
        ready = np.append(stamps[:n] + _NS_PER_MINUTE, close_ns)
        rng = np.random.default_rng([self.seed, zlib.crc32(code.encode()), _SALT_MINUTE, day.toordinal()])
        regime = np.array([day >= TICK_REFORM_DAY])
        kosdaq = self.profile(code).market == "KOSDAQ"

        # Path x[0..n]: x[t] is the price after minute t-1; x[0] is the open, x[n] the close.
        t_low, t_high = (int(t) for t in rng.choice(np.arange(1, n), size=2, replace=False))
        path = _anchored_path(rng, n, [(0, o), (t_low, lo), (t_high, h), (n, c)], h, lo)
        path = np.clip(_round_nearest(path, regime, kosdaq), lo, h)

        # Volumes: a U-shaped day, busier when the price moves; the opening call lands in the first
        # minute and the closing call is its own bar. Bars that print an anchor always trade.
        k = np.arange(n)
        weight = (1 + 2.5 * np.exp(-k / 20) + 1.2 * np.exp(-(n - 1 - k) / 30)) * rng.lognormal(0, 0.5, n)
        weight *= 1 + 30 * np.abs(np.diff(np.log(path)))
        weight[0] *= 4
        auction_share = rng.uniform(0.03, 0.08)
        weights = np.append(weight / weight.sum() * (1 - auction_share), auction_share)
        volume = _allocate(day_volume, weights, must=[0, t_low - 1, t_high - 1, n])

        # A minute without trades keeps the last price.
        traded = volume[:n] > 0
        last_trade = np.maximum.accumulate(np.where(traded, k, -1))
        close = np.where(last_trade >= 0, path[1:][np.maximum(last_trade, 0)], o).astype(np.float64)
        open_ = np.concatenate(([float(o)], close[:-1]))
        up, down = np.abs(rng.standard_normal((2, n)))
        high = np.minimum(_round_up(np.maximum(open_, close) * np.exp(_WICK_SD_MINUTE * up), regime, kosdaq), h)
        low = np.maximum(_round_down(np.minimum(open_, close) * np.exp(-_WICK_SD_MINUTE * down), regime, kosdaq), lo)
        high = np.where(traded, high, close)
        low = np.where(traded, low, close)

        all_open = np.append(open_, c).astype(np.int64)
        all_high = np.append(high, c).astype(np.int64)
        all_low = np.append(low, c).astype(np.int64)
        all_close = np.append(close, c).astype(np.int64)
        typical = (all_high + all_low + 2 * all_close) / 4.0
        raw_value = volume * typical
        value = _allocate(day_value, raw_value / raw_value.sum()) if raw_value.sum() > 0 else np.zeros_like(volume)
        open_auction = min(int(volume[0]), max(1, round(int(volume[0]) * rng.uniform(0.4, 0.8)))) if volume[0] else 0
        return _MinuteDay(
            stamps_ns=stamps, ready_ns=ready, open=all_open, high=all_high, low=all_low, close=all_close,
            volume=volume, value=value, open_auction_volume=open_auction, close_auction_volume=int(volume[n]),
        )

    def _index_spec(self, index_code: str) -> _IndexSpec:
        spec = INDEX_SPECS.get(index_code)
        if spec is None:
            raise ValueError(f"index {index_code!r} is not simulated; known: {sorted(INDEX_SPECS)}")
        return spec

    def _index_series(self, index_code: str) -> IndexSeries:
        spec = self._index_spec(index_code)
        with self._lock:
            cached = self._indices.get(index_code)
        if cached is not None:
            return cached
        n = len(self._days)
        own, gap, up, down, vol_noise = _streams([self.seed, _SALT_INDEX, zlib.crc32(index_code.encode())], 5, n)
        r = MU + spec.beta * SIGMA_MARKET * self._market_noise + spec.idio * own
        close = np.round(spec.base * np.exp(np.cumsum(r)), 2)
        prev = np.concatenate(([spec.base], close[:-1]))
        open_ = np.round(prev * np.exp(0.3 * r + 0.002 * gap), 2)
        body_top, body_bottom = np.maximum(open_, close), np.minimum(open_, close)
        high = np.maximum(np.round(body_top * np.exp(0.004 * np.abs(up)), 2), body_top)
        low = np.minimum(np.round(body_bottom * np.exp(-0.004 * np.abs(down)), 2), body_bottom)
        busy = np.exp(0.25 * vol_noise - 0.03) * (1 + 15 * np.abs(r))
        volume = np.round(spec.volume * busy).astype(np.int64)
        value = np.round(spec.value * busy * np.sqrt(close / spec.base)).astype(np.int64)
        series = IndexSeries(index_code, self._days, open_, high, low, close, volume, value)
        with self._lock:
            self._indices[index_code] = series
        return series

    def _generate_fundamentals(self, code: str) -> tuple[list[FinancialPeriod], list[FinancialPeriod]]:
        """All yearly and quarterly periods from 1990 to ``FUNDAMENTALS_LAST_YEAR`` (see the module docstring).

        The range is fixed, not the calendar's: a draw's length must not change with today's date.
        """
        prof = self.profile(code)
        rng = np.random.default_rng([self.seed, zlib.crc32(code.encode()), _SALT_FUNDAMENTALS])
        years = list(range(FUNDAMENTALS_FIRST_YEAR, FUNDAMENTALS_LAST_YEAR + 1))
        ny = len(years)
        anchor = min(max(self.history_start.year - 1, years[0]), years[-1]) - years[0]
        shares = prof.shares_outstanding
        eok = 1e8

        # Yearly figures, anchored on the profile's EPS (net income) and BPS (equity).
        net_income_anchor = prof.eps * shares / eok
        margin = rng.uniform(0.04, 0.14)
        revenue_anchor = max(abs(net_income_anchor) / margin, 1.0)
        log_revenue = np.cumsum(rng.normal(0.05, 0.10, ny))
        revenue = revenue_anchor * np.exp(log_revenue - log_revenue[anchor])
        margin_noise = _ar1(rng, ny, 0.7, 0.03)
        net_margin = math.copysign(margin, net_income_anchor) + margin_noise - margin_noise[anchor]
        net_income = net_margin * revenue
        pretax = np.where(net_income > 0, net_income / (1 - _TAX_RATE), net_income)
        operating = pretax - revenue * rng.normal(0, 0.01, ny)
        gross_margin = np.clip(rng.uniform(0.15, 0.45) + rng.normal(0, 0.02, ny), 0.05, 0.9)
        gross = np.minimum(np.maximum(revenue * gross_margin, operating + 0.03 * revenue), revenue)
        equity_noise = _ar1(rng, ny, 0.8, 0.04)
        equity_anchor = prof.bps * shares / eok
        equity = equity_anchor * (revenue / revenue_anchor) ** 0.7 * np.exp(equity_noise - equity_noise[anchor])
        debt_noise = _ar1(rng, ny, 0.8, 0.1)
        debt_ratio = math.exp(rng.uniform(math.log(0.3), math.log(2.0))) * np.exp(debt_noise - debt_noise[anchor])
        current_asset_share = rng.uniform(0.3, 0.6)
        current_liability_share = rng.uniform(0.45, 0.8)

        # Quarters: income splits across the year (year-to-date sums reach the yearly figure at Q4);
        # the balance sheet moves geometrically from one year end to the next.
        sales_split = np.clip(0.25 + rng.normal(0, 0.02, (ny, 4)), 0.1, None)
        sales_split /= sales_split.sum(axis=1, keepdims=True)
        profit_split = 0.25 + rng.normal(0, 0.08, (ny, 4))
        profit_split /= profit_split.sum(axis=1, keepdims=True)
        sales_ytd = np.cumsum(sales_split, axis=1)
        profit_ytd = np.cumsum(profit_split, axis=1)
        bs_noise = rng.normal(0, 0.01, (ny, 4, 2))
        ca_noise = rng.normal(0, 0.03, (ny, 4, 2))
        capital_stock = max(1, round(prof.par_value * shares / eok))

        quarterly: list[FinancialPeriod] = []
        by_key: dict[tuple[int, int], FinancialPeriod] = {}
        for y, year in enumerate(years):
            for q in range(1, 5):
                frac = q / 4
                prev_equity = equity[y - 1] if y else equity[y]
                prev_debt = debt_ratio[y - 1] if y else debt_ratio[y]
                if q == 4:
                    eq, dr = equity[y], debt_ratio[y]
                else:
                    eq = prev_equity ** (1 - frac) * equity[y] ** frac * math.exp(bs_noise[y, q - 1, 0])
                    dr = prev_debt ** (1 - frac) * debt_ratio[y] ** frac * math.exp(bs_noise[y, q - 1, 1])
                total_equity = max(1, round(eq))
                total_liabilities = max(0, round(eq * dr))
                total_assets = total_equity + total_liabilities
                ca_share = min(max(current_asset_share + ca_noise[y, q - 1, 0], 0.1), 0.9)
                cl_share = min(max(current_liability_share + ca_noise[y, q - 1, 1], 0.1), 0.95)
                current_assets = round(total_assets * ca_share)
                current_liabilities = round(total_liabilities * cl_share)
                rev = round(revenue[y] * sales_ytd[y, q - 1])
                gp = round(gross[y] * sales_ytd[y, q - 1])
                op = round(operating[y] * profit_ytd[y, q - 1])
                pt = round(pretax[y] * profit_ytd[y, q - 1])
                ni = round(net_income[y] * profit_ytd[y, q - 1])
                last_year = by_key.get((year - 1, q))
                last_year_end = by_key.get((year - 1, 4))
                avg_equity = (total_equity + (last_year_end.total_equity if last_year_end else total_equity)) / 2
                period_end = _month_end(year, 3 * q)
                row = FinancialPeriod(
                    period=f"{year}{3 * q:02d}", period_end=period_end, quarter=q,
                    available_from=period_end + (ANNUAL_REPORT_LAG if q == 4 else QUARTER_REPORT_LAG),
                    revenue=rev, cost_of_sales=rev - gp, gross_profit=gp, operating_profit=op, pretax_profit=pt,
                    net_income=ni, current_assets=current_assets, fixed_assets=total_assets - current_assets,
                    total_assets=total_assets, current_liabilities=current_liabilities,
                    fixed_liabilities=total_liabilities - current_liabilities, total_liabilities=total_liabilities,
                    capital_stock=capital_stock, total_equity=total_equity,
                    revenue_growth=_growth(rev, last_year.revenue, both_positive=False) if last_year else None,
                    operating_profit_growth=_growth(op, last_year.operating_profit) if last_year else None,
                    net_income_growth=_growth(ni, last_year.net_income) if last_year else None,
                    roe=round(ni * 4 / q / avg_equity * 100, 2),
                    eps=round(ni * eok / shares), sps=round(rev * 4 / q * eok / shares),
                    bps=round(total_equity * eok / shares),
                    reserve_ratio=round((total_equity - capital_stock) / capital_stock * 100, 2),
                    debt_ratio=round(total_liabilities / total_equity * 100, 2),
                )
                by_key[(year, q)] = row
                quarterly.append(row)
        yearly = [row for row in quarterly if row.quarter == 4]
        return yearly, quarterly


def _streams(key: list[int], count: int, n: int) -> list[np.ndarray]:
    """``count`` independent standard-normal series of length ``n`` from one key.

    Each series has its own stream (the first keeps the key itself), so its first ``k`` values are
    the same whatever ``n`` is: a day's draw never depends on how many days the calendar holds.
    One ``standard_normal((count, n))`` would shift every row but the first whenever ``n`` grew.
    """
    first = np.random.default_rng(key).standard_normal(n)
    return [first, *(np.random.default_rng([*key, k]).standard_normal(n) for k in range(1, count))]


def _kst(moment: datetime | None) -> datetime:
    if moment is None:
        return clock.now_kst()
    if moment.tzinfo is None:
        return moment.replace(tzinfo=KST)  # a naive wall clock here means Korean time
    return moment.astimezone(KST)


def _ns(delta: timedelta) -> int:
    return int(delta.total_seconds()) * 1_000_000_000


def _month_end(year: int, month: int) -> date:
    following = date(year + (month == 12), month % 12 + 1, 1)
    return following - timedelta(days=1)


def _ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    shocks = rng.normal(0, sd, n)
    out = np.empty(n)
    level = 0.0
    for i in range(n):
        level = phi * level + shocks[i]
        out[i] = level
    return out


def _growth(current: float, previous: float, *, both_positive: bool = True) -> float:
    """Percent change; KIS shows 0 for profit growth when either year is a loss (적자지속/전환)."""
    if both_positive and (current <= 0 or previous <= 0):
        return 0.0
    if previous == 0:
        return 0.0
    return round((current - previous) / abs(previous) * 100, 2)


def _allocate(total: int, weights: np.ndarray, must: list[int] | None = None) -> np.ndarray:
    """Split the integer ``total`` by ``weights`` exactly (largest remainder); ``must`` get at least 1."""
    out = np.zeros(len(weights), dtype=np.int64)
    for index in dict.fromkeys(must or []):  # unique, in order
        if out.sum() < total:
            out[index] += 1
    rest = total - int(out.sum())
    if rest <= 0:
        return out
    share = rest * weights / weights.sum()
    floors = np.floor(share).astype(np.int64)
    remainder = rest - int(floors.sum())
    if remainder:
        floors[np.argsort(-(share - floors), kind="stable")[:remainder]] += 1
    return out + floors


def _anchored_path(rng: np.random.Generator, n: int, anchors: list[tuple[int, int]], high: int,
                   low: int) -> np.ndarray:
    """A log-price path over 0..n through the (minute, price) anchors, Brownian bridges in between,
    kept inside [low, high]."""
    anchors = sorted(anchors)
    sigma = max(math.log(high / low), 0.002) / math.sqrt(n) * 1.2
    path = np.empty(n + 1)
    for (t0, p0), (t1, p1) in itertools.pairwise(anchors):
        steps = t1 - t0
        if steps == 0:
            path[t0] = p1
            continue
        walk = np.concatenate(([0.0], np.cumsum(rng.standard_normal(steps))))
        frac = np.arange(steps + 1) / steps
        bridge = walk - frac * walk[-1]
        path[t0:t1 + 1] = np.exp(math.log(p0) + frac * (math.log(p1) - math.log(p0)) + sigma * bridge)
    return np.clip(path, low, high)


def kst_now() -> datetime:
    """The sandbox's default clock: the project's one clock (``stock_insights.clock``), in KST."""
    return clock.now_kst()


def kst_wall_clock(moment: datetime) -> str:
    """'YYYY-MM-DD HH:MM:SS' in KST, the format KIS uses for token expiry."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=KST)
    return moment.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S")

