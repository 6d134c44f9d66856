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
    the range asked for. Seeds come from ``(seed, zlib.crc32(code))`` — stable across processes,
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
"""

from __future__ import annotations

import math
import threading
import warnings
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import exchange_calendars
import numpy as np

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


@lru_cache(maxsize=1)
def krx_calendar() -> exchange_calendars.ExchangeCalendar:
    """The XKRX calendar; building it takes ~2 s, so it is built once per process."""
    with warnings.catch_warnings():
        # exchange_calendars itself trips a pandas deprecation (Series.values on tz-aware data);
        # it is not ours to fix and would repeat in every test run.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        return exchange_calendars.get_calendar("XKRX")


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
        now = datetime.now(KST)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=KST)  # a naive wall clock here means Korean time
    return int(now.timestamp() * 1_000_000) * 1_000


class SimulatedMarket:
    """Deterministic daily bars and news tone for any 6-character KRX code.

    Two markets built with the same ``seed`` and ``history_start`` give identical answers in any
    process. Per-code series are cached (LRU, ``cache_size`` codes).
    """

    def __init__(self, seed: int = 7, history_start: date = date(2020, 1, 2), *, cache_size: int = 512):
        cal = krx_calendar()
        first = max(history_start, cal.first_session.date())
        sessions = cal.sessions_in_range(first.isoformat(), cal.last_session)
        if len(sessions) < 2:
            raise ValueError(f"history_start {history_start} leaves no sessions in the XKRX calendar")
        self.seed = int(seed)
        self.history_start = history_start
        self._days: np.ndarray = sessions.values.astype("datetime64[D]")
        self._closes_ns: np.ndarray = np.asarray(cal.closes.loc[sessions].array.asi8, dtype=np.int64)
        self._new_regime: np.ndarray = self._days >= _to_datetime64(TICK_REFORM_DAY)
        self._market_noise = np.random.default_rng([self.seed, _SALT_MARKET]).standard_normal(len(self._days))
        self._cache: OrderedDict[str, _Series] = OrderedDict()
        self._profiles: dict[str, StockProfile] = {}
        self._cache_size = cache_size
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
        listing = KNOWN_LISTINGS.get(code)
        return listing.name if listing else f"종목{code}"

    def listing_market(self, code: str) -> ListingMarket:
        listing = KNOWN_LISTINGS.get(code)
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
        rng = np.random.default_rng([self.seed, crc, _SALT_PRICE])
        idio, gap, up, down, vol_noise = rng.standard_normal((5, n))

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


def kst_now() -> datetime:
    return datetime.now(KST)


def kst_wall_clock(moment: datetime) -> str:
    """'YYYY-MM-DD HH:MM:SS' in KST, the format KIS uses for token expiry."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=KST)
    return moment.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S")

