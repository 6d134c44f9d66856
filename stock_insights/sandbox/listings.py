"""The simulated market's listings: the ONE source of every code, name and listing event of the sandbox.

``simulated_listings(seed)`` returns about 2,740 listings (all that were listed at some point of the
simulated year), the same in every process for the same seed. As of the end of 2026 about 950 are
listed on KOSPI and 1,750 on KOSDAQ, shaped like the real market:

======  ===========================================================================================
KOSPI   ~780 common stocks (the real ``universe.KNOWN_LISTINGS`` among them), ~110 preferred shares
        (``…우``, ``…2우B``; the code of the common with last digit 5 or 7), ~30 ETFs, 5 ETNs, ~22 REITs,
        a few others (infrastructure fund, DR)
KOSDAQ  ~1,610 common stocks, 8 preferred, ~120 SPACs (``…스팩N호``), a dozen foreign stocks
======  ===========================================================================================

Codes and names other than ``KNOWN_LISTINGS`` are invented (Korean-looking names from a prefix and
an industry word; a generated code may be a real code of another company). Listing dates are
simulated too, also for the real names.

What happens over the simulated year (``SIM_YEAR_START`` .. ``SIM_YEAR_END``, weekdays only)
    about 90 new listings (IPOs, SPACs, ETFs), 40 delistings (each preceded by a 관리종목 spell
    and seven days of 정리매매), 16 renames, 30 trading suspensions (some still running) and a
    few 관리종목 designations. Everything is a function of ``(seed, day)``: the listings as of day D
    never change with the date they are asked on.

Deliberate collisions (stock linking must survive them; see ``COLLISIONS``)
    - ``reused_name``: a KOSDAQ company delisted in April; in September a new listing takes its name;
    - ``renamed_then_reused``: a KOSPI company renamed in June (its former name stays an alias), and
      in October a new KOSDAQ listing takes the former name (from then on the alias is dropped);
    - ``shared_english``: two listed companies with the same English name;
    - ``common_word``: ``대상`` (also the common word "target/subject") and ``신세계`` ("new world");
    - ``substring``: names that are prefixes of others (``…정밀`` / ``…정밀화학``), plus every
      preferred share (``대한전자`` / ``대한전자우``).

No web framework and no Dagster here: the sandbox routers (``master.py``), ``SimulatedMarket`` and
the newsroom all read these objects.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal

from stock_insights.universe import KNOWN_LISTINGS

SecurityType = Literal["common", "preferred", "etf", "etn", "spac", "reit", "other"]
ListingMarket = Literal["KOSPI", "KOSDAQ"]

SIM_YEAR_START = date(2026, 1, 2)
SIM_YEAR_END = date(2026, 12, 30)
LIQUIDATION_DAYS = 7  # 정리매매: the last seven calendar days before a delisting

# --- shape of the market -------------------------------------------------------------------------
_N_COMMON = {"KOSPI": 780, "KOSDAQ": 1610}  # listed at the end of the year (known listings included)
_N_PREFERRED = {"KOSPI": 110, "KOSDAQ": 8}
_N_ETF, _N_ETN, _N_REIT, _N_KOSPI_OTHER = 30, 5, 22, 5
_N_SPAC, _N_FOREIGN = 120, 12
_N_NEW = {"KOSPI": 14, "KOSDAQ": 52}  # common stocks listed during the year
_N_NEW_SPAC, _N_NEW_ETF = 16, 8
_N_DELISTED = {"KOSPI": 10, "KOSDAQ": 30}
_N_RENAMES, _N_SUSPENSIONS, _N_ADMIN = 16, 30, 12

# Name parts: (Korean, English). No chaebol prefixes, so no invented name looks like a real group's.
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("대한", "Daehan"), ("동양", "Dongyang"), ("삼화", "Samhwa"), ("신성", "Shinsung"), ("세원", "Sewon"),
    ("한일", "Hanil"), ("대성", "Daesung"), ("동아", "Donga"), ("성우", "Sungwoo"), ("태양", "Taeyang"),
    ("제일", "Jeil"), ("대원", "Daewon"), ("한빛", "Hanbit"), ("우진", "Woojin"), ("서원", "Seowon"),
    ("금호", "Geumho"), ("경동", "Kyungdong"), ("영진", "Youngjin"), ("동성", "Dongsung"), ("한양", "Hanyang"),
    ("일진", "Iljin"), ("삼영", "Samyoung"), ("대동", "Daedong"), ("광명", "Gwangmyung"), ("유니온", "Union"),
    ("코리아", "Korea"), ("한미", "Hanmi"), ("진흥", "Jinheung"), ("세진", "Sejin"), ("성진", "Sungjin"),
    ("청호", "Chungho"), ("새한", "Saehan"), ("동진", "Dongjin"), ("보성", "Bosung"), ("화신", "Hwashin"),
    ("이노", "Inno"), ("엠텍", "Emtek"), ("나노", "Nano"), ("비전", "Vision"), ("에이스", "Ace"),
    ("하이텍", "Hitek"), ("지엔", "GN"), ("디케이", "DK"), ("제이에스", "JS"), ("씨앤", "CN"),
    ("오성", "Osung"), ("삼원", "Samwon"), ("태광", "Taekwang"), ("대양", "Daeyang"), ("신화", "Shinhwa"),
    ("한성", "Hansung"), ("동국", "Dongkuk"), ("대림", "Daerim"), ("선진", "Sunjin"), ("원익", "Wonik"),
    ("대창", "Daechang"), ("우성", "Woosung"), ("한독", "Handok"), ("국일", "Kukil"), ("명성", "Myungsung"),
    ("백산", "Baeksan"), ("상신", "Sangshin"), ("서한", "Seohan"), ("수성", "Susung"), ("신일", "Shinil"),
    ("아진", "Ajin"), ("영화", "Younghwa"), ("용산", "Yongsan"), ("인성", "Insung"), ("정우", "Jungwoo"),
    ("조광", "Chokwang"), ("천일", "Cheonil"), ("태림", "Taerim"), ("평화", "Pyunghwa"), ("풍림", "Punglim"),
    ("하림", "Harim"), ("혜인", "Hyein"), ("화천", "Hwacheon"), ("휴림", "Hurim"), ("금양", "Keumyang"),
)
_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("전자", "Electronics"), ("화학", "Chemical"), ("제약", "Pharmaceutical"), ("바이오", "Bio"),
    ("테크", "Tech"), ("산업", "Industrial"), ("건설", "Construction"), ("정밀", "Precision"),
    ("소재", "Materials"), ("에너지", "Energy"), ("시스템", "Systems"), ("반도체", "Semiconductor"),
    ("통신", "Telecom"), ("식품", "Foods"), ("물산", "Trading"), ("중공업", "Heavy Industries"),
    ("기계", "Machinery"), ("철강", "Steel"), ("금속", "Metal"), ("엔터", "Entertainment"),
    ("게임즈", "Games"), ("헬스케어", "Healthcare"), ("로직스", "Logistics"), ("디스플레이", "Display"),
    ("머티리얼즈", "Materials Co"), ("홀딩스", "Holdings"), ("정밀화학", "Fine Chemical"),
    ("전자소재", "Electronic Materials"), ("바이오텍", "Biotech"), ("제지", "Paper"), ("섬유", "Textile"),
    ("해운", "Shipping"), ("항공", "Aero"), ("모터스", "Motors"), ("케미칼", "Chemicals"),
    ("솔루션", "Solutions"), ("네트웍스", "Networks"), ("인더스트리", "Industry"), ("파마", "Pharma"),
    ("메디칼", "Medical"), ("씨엔에스", "CNS"), ("이엔지", "E&G"),
)
_ETF_BRANDS = ("KODEX", "TIGER", "KBSTAR", "ARIRANG", "HANARO", "ACE", "SOL", "KOSEF", "RISE", "PLUS")
_ETF_THEMES: tuple[tuple[str, str], ...] = (
    ("200", "200"), ("반도체", "Semiconductor"), ("2차전지산업", "Secondary Battery"), ("코스닥150", "KOSDAQ150"),
    ("미국S&P500", "US S&P500"), ("은행", "Banks"), ("인버스", "Inverse"), ("레버리지", "Leverage"),
    ("배당성장", "Dividend Growth"), ("KRX300", "KRX300"), ("헬스케어", "Healthcare"), ("국고채3년", "KTB 3Y"),
)
_ETN_ISSUERS = ("삼성", "신한", "미래에셋", "한투", "KB")
_ETN_THEMES = ("인버스 2X WTI원유 선물", "레버리지 천연가스 선물", "금 선물", "S&P500 변동성", "중국 CSI300")
_SPAC_BROKERS: tuple[tuple[str, str], ...] = (
    ("하나금융", "Hana Financial"), ("미래에셋비전", "Mirae Asset Vision"), ("엔에이치", "NH"),
    ("대신밸런스", "Daishin Balance"), ("교보", "Kyobo"), ("유안타", "Yuanta"), ("케이비", "KB"),
    ("신한", "Shinhan"), ("키움", "Kiwoom"), ("디비금융", "DB Financial"), ("IBKS", "IBKS"), ("유진", "Eugene"),
)
# Real preferred shares of known listings (삼성전자우 005935, 현대차우 005385, LG화학우 051915, ...).
_REAL_PREFERRED_BASES = ("005930", "005380", "051910", "066570", "003550", "006400")
_REIT_BRANDS = ("알파", "프라임", "밸류", "글로벌", "인프라", "오피스", "물류", "스타", "플랫폼", "코어", "프리미어")


@dataclass(frozen=True, slots=True)
class NameChange:
    """A rename, effective from ``day`` (the master file shows the new name from that day)."""

    day: date
    name: str
    name_en: str


@dataclass(frozen=True, slots=True)
class SimListing:
    """One listing of the simulated market over its whole life.

    ``listed_on`` is the first day it is in the master file, ``delisted_on`` the first day it is not
    (None: still listed). Periods are half-open ``[start, end)``; an ``end`` of None runs on.
    """

    code: str
    standard_code: str
    name: str  # the name at listing; see ``name_on``
    name_en: str
    market: ListingMarket
    security_type: SecurityType
    group_code: str  # 증권그룹구분코드: ST, EF, EN, RT, IF, DR, FS
    listed_on: date
    delisted_on: date | None = None
    renames: tuple[NameChange, ...] = ()
    suspensions: tuple[tuple[date, date | None], ...] = ()
    administrative: tuple[tuple[date, date | None], ...] = ()
    aliases: tuple[str, ...] = ()
    preferred_kind: int = 0  # 우선주 구분: 0 common, 1 구형우선주, 2 신형우선주
    par_value: int = 500
    known: bool = False  # one of the real ``universe.KNOWN_LISTINGS``
    retired_aliases: dict[str, date] = field(default_factory=dict, compare=False, hash=False)

    def is_listed(self, day: date) -> bool:
        return self.listed_on <= day and (self.delisted_on is None or day < self.delisted_on)

    def _latest_change(self, day: date) -> NameChange | None:
        change = None
        for item in self.renames:
            if item.day <= day:
                change = item
        return change

    def name_on(self, day: date) -> str:
        change = self._latest_change(day)
        return change.name if change else self.name

    def name_en_on(self, day: date) -> str:
        change = self._latest_change(day)
        return change.name_en if change else self.name_en

    def former_names(self, day: date) -> tuple[str, ...]:
        """Names this listing had before ``day``, newest last (aliases while no one else holds them)."""
        names = [self.name] + [c.name for c in self.renames if c.day <= day]
        return tuple(n for n in names[:-1] if not (n in self.retired_aliases and self.retired_aliases[n] <= day))

    def aliases_on(self, day: date) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.aliases, *self.former_names(day))))

    def is_suspended(self, day: date) -> bool:
        return _in_periods(self.suspensions, day)

    def is_administrative(self, day: date) -> bool:
        if _in_periods(self.administrative, day):
            return True
        return self.delisted_on is not None and self.delisted_on - timedelta(days=60) <= day < self.delisted_on

    def is_liquidating(self, day: date) -> bool:
        """정리매매: the last ``LIQUIDATION_DAYS`` before a delisting."""
        end = self.delisted_on
        return end is not None and end - timedelta(days=LIQUIDATION_DAYS) <= day < end


def _in_periods(periods: tuple[tuple[date, date | None], ...], day: date) -> bool:
    return any(start <= day and (end is None or day < end) for start, end in periods)


def isin_check_digit(body: str) -> str:
    """The ISIN check digit (Luhn over letters as 10..35) of an 11-character ISIN body."""
    digits = "".join(str(int(ch, 36)) for ch in body)
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 0:
            n *= 2
            n = n - 9 if n > 9 else n
        total += n
    return str((10 - total % 10) % 10)


def standard_code(code: str) -> str:
    body = f"KR7{code}00"
    return body + isin_check_digit(body)


def _weekday(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(zlib.crc32(f"listings:{seed}".encode()))
        self.codes: set[str] = set(KNOWN_LISTINGS)
        self.names: set[str] = {x.name for x in KNOWN_LISTINGS.values()}
        self.names |= {a for x in KNOWN_LISTINGS.values() for a in x.aliases}
        self.names_en: set[str] = {x.name_en for x in KNOWN_LISTINGS.values()}
        combos = [(p, s) for p in _PREFIXES for s in _SUFFIXES]
        self.rng.shuffle(combos)
        self._combos = iter(combos)

    def code(self, last_digit: int = 0, *, lo: int = 100, hi: int = 49_000) -> str:
        while True:
            code = f"{self.rng.randrange(lo, hi):05d}{last_digit}"
            if code not in self.codes and all(code[:5] + d not in self.codes for d in "0579"):
                self.codes.add(code)
                return code

    def company_name(self) -> tuple[str, str]:
        for (pk, pe), (sk, se) in self._combos:
            name, name_en = pk + sk, f"{pe} {se}"
            if name not in self.names and name_en not in self.names_en:
                self.names.add(name)
                self.names_en.add(name_en)
                return name, name_en
        raise RuntimeError("ran out of invented company names")

    def day_in_year(self, lo: date = SIM_YEAR_START, hi: date = SIM_YEAR_END) -> date:
        return _weekday(lo + timedelta(days=self.rng.randrange((hi - lo).days - 3)))

    def past_day(self, first_year: int, last: date = date(2025, 11, 28)) -> date:
        lo = date(first_year, 1, 2)
        return _weekday(lo + timedelta(days=self.rng.randrange((last - lo).days)))


@lru_cache(maxsize=4)
def _build(seed: int) -> tuple[SimListing, ...]:
    b = _Builder(seed)
    rng = b.rng
    out: dict[str, SimListing] = {}

    def add(item: SimListing) -> SimListing:
        out[item.code] = item
        return item

    def common(market: ListingMarket, listed_on: date, *, name: tuple[str, str] | None = None) -> SimListing:
        code = b.code(0, lo=100 if market == "KOSPI" else 5_000)
        name_ko, name_en = name or b.company_name()
        aliases = (name_en,) if rng.random() < 0.3 else ()
        return add(SimListing(code, standard_code(code), name_ko, name_en, market, "common", "ST", listed_on,
                              aliases=aliases, par_value=rng.choice((100, 200, 500, 1000, 5000))))

    # --- the real listings: always listed, never renamed or suspended -----------------------------
    for known in KNOWN_LISTINGS.values():
        add(SimListing(known.code, standard_code(known.code), known.name, known.name_en, known.market, "common",
                       "ST", b.past_day(1975 if known.market == "KOSPI" else 1997, date(2019, 12, 30)),
                       aliases=known.aliases, par_value=100 if known.code == "005930" else 5000, known=True))
    n_known = {m: sum(1 for x in KNOWN_LISTINGS.values() if x.market == m) for m in ("KOSPI", "KOSDAQ")}

    # --- common stocks: the ones listed all year, new ones, delisted ones ---------------------------
    for market in ("KOSPI", "KOSDAQ"):
        first_year = 1975 if market == "KOSPI" else 1997
        for _ in range(_N_COMMON[market] - n_known[market] - _N_NEW[market]):
            common(market, b.past_day(first_year))
        for _ in range(_N_NEW[market]):
            common(market, b.day_in_year())
        for _ in range(_N_DELISTED[market]):
            item = common(market, b.past_day(first_year))
            out[item.code] = _replace(item, delisted_on=b.day_in_year(date(2026, 2, 2)))

    # --- planted collisions -----------------------------------------------------------------------
    generated = [x for x in out.values() if not x.known and x.listed_on < SIM_YEAR_START and x.delisted_on is None]
    kosdaq_old = [x for x in generated if x.market == "KOSDAQ"]
    kospi_old = [x for x in generated if x.market == "KOSPI"]
    # reused_name: delisted in April, its name taken by a September listing.
    gone = kosdaq_old[0]
    out[gone.code] = gone = _replace(gone, delisted_on=date(2026, 4, 15))
    reuser = common("KOSDAQ", date(2026, 9, 14), name=(gone.name, gone.name_en))
    # renamed_then_reused: renamed in June, the former name taken by an October listing.
    renamed = kospi_old[0]
    new_name = b.company_name()
    taker = common("KOSDAQ", date(2026, 10, 5), name=(renamed.name, renamed.name_en))
    out[renamed.code] = renamed = _replace(
        renamed, renames=(NameChange(date(2026, 6, 1), *new_name),), retired_aliases={renamed.name: taker.listed_on}
    )
    # shared_english: a second company takes the first's English name.
    first, second = kospi_old[1], kosdaq_old[1]
    out[second.code] = second = _replace(second, name_en=first.name_en, aliases=())
    # common_word names.
    daesang = common("KOSPI", date(1970, 1, 20), name=("대상", "Daesang"))
    shinsegae = common("KOSPI", date(1985, 6, 3), name=("신세계", "Shinsegae"))
    collisions = {
        "reused_name": (gone.code, reuser.code),
        "renamed_then_reused": (renamed.code, taker.code),
        "shared_english": (first.code, second.code),
        "common_word": (daesang.code, shinsegae.code),
    }

    # --- renames, suspensions, administrative issues over the year ---------------------------------
    pool = [x for x in out.values() if not x.known and x.security_type == "common" and x.delisted_on is None
            and not x.renames and x.code not in {c for pair in collisions.values() for c in pair}]
    rng.shuffle(pool)
    for item in pool[:_N_RENAMES]:
        name_ko, name_en = b.company_name()
        out[item.code] = _replace(item, renames=(NameChange(b.day_in_year(), name_ko, name_en),))
    for item in pool[_N_RENAMES:_N_RENAMES + _N_SUSPENSIONS]:
        start = b.day_in_year()
        end = None if rng.random() < 0.3 else start + timedelta(days=rng.randrange(1, 90))
        out[item.code] = _replace(item, suspensions=((start, end),))
    for item in pool[_N_RENAMES + _N_SUSPENSIONS:_N_RENAMES + _N_SUSPENSIONS + _N_ADMIN]:
        start = b.day_in_year()
        end = None if rng.random() < 0.5 else start + timedelta(days=rng.randrange(30, 200))
        out[item.code] = _replace(item, administrative=((start, end),))

    # --- preferred shares: of KOSPI commons listed all year (and all known KOSPI names first) -------
    markets: tuple[ListingMarket, ...] = ("KOSPI", "KOSDAQ")
    for market in markets:
        bases = [x for x in out.values() if x.market == market and x.security_type == "common"
                 and x.delisted_on is None and x.listed_on < SIM_YEAR_START and not x.renames
                 and x.code not in {c for pair in collisions.values() for c in pair}]
        real = [out[c] for c in _REAL_PREFERRED_BASES if out[c].market == market]
        bases = [x for x in bases if not x.known]
        bases.sort(key=lambda x: x.code)
        chosen = real + rng.sample(bases, _N_PREFERRED[market] - len(real))
        for i, base in enumerate(chosen):
            kind = 2 if i % 7 == 6 else 1
            code = base.code[:5] + ("7" if kind == 2 else "5")
            suffix, suffix_en = ("2우B", " 2nd Pref") if kind == 2 else ("우", " Pref")
            b.codes.add(code)
            add(SimListing(code, standard_code(code), base.name + suffix, base.name_en + suffix_en, market,
                           "preferred", "ST",
                           min(base.listed_on + timedelta(days=rng.randrange(0, 4000)), _weekday(date(2025, 11, 3))),
                           preferred_kind=kind, par_value=base.par_value))

    # --- funds, REITs, SPACs, foreign stocks ------------------------------------------------------
    etfs = [(brand, theme) for brand in _ETF_BRANDS for theme in _ETF_THEMES]
    rng.shuffle(etfs)
    for i, (brand, (theme, theme_en)) in enumerate(etfs[: _N_ETF + _N_NEW_ETF]):
        code = b.code(0, lo=6_000, hi=49_000)
        listed = b.day_in_year() if i >= _N_ETF else b.past_day(2002)
        add(SimListing(code, standard_code(code), f"{brand} {theme}", f"{brand} {theme_en}", "KOSPI", "etf", "EF",
                       listed, par_value=0))
    for i in range(_N_ETN):
        code = b.code(0, lo=50_000, hi=59_999)
        issuer, theme = _ETN_ISSUERS[i % len(_ETN_ISSUERS)], _ETN_THEMES[i % len(_ETN_THEMES)]
        add(SimListing(code, standard_code(code), f"{issuer} {theme} ETN", f"{issuer} ETN {i + 1}", "KOSPI", "etn",
                       "EN", b.past_day(2015), par_value=0))
    reit_names: set[str] = set()
    while len(reit_names) < _N_REIT:
        prefix = rng.choice(_PREFIXES)
        reit_names.add(f"{prefix[0]}{rng.choice(_REIT_BRANDS)}리츠")
    for name in sorted(reit_names):
        code = b.code(0, lo=30_000, hi=49_000)
        add(SimListing(code, standard_code(code), name, f"{name} REIT", "KOSPI", "reit", "RT", b.past_day(2016)))
    for group, (name, name_en) in zip(("IF", "DR", "DR", "IF", "IF"), (
            ("한국인프라투융자", "Korea Infra Fund"), ("차이나그린DR", "China Green DR"),
            ("베트남에너지DR", "Vietnam Energy DR"),
            ("도로인프라투융자", "Road Infra Fund"), ("항만인프라투융자", "Port Infra Fund")), strict=True):
        code = b.code(0, lo=8_000, hi=49_000)
        add(SimListing(code, standard_code(code), name, name_en, "KOSPI", "other", group, b.past_day(2006)))
    spac_numbers: dict[str, int] = {}
    for i in range(_N_SPAC + _N_NEW_SPAC):
        broker, broker_en = _SPAC_BROKERS[rng.randrange(len(_SPAC_BROKERS))]
        n = spac_numbers[broker] = spac_numbers.get(broker, rng.randrange(1, 20)) + 1
        code = b.code(0, lo=40_000, hi=49_000)
        listed = b.day_in_year() if i >= _N_SPAC else b.past_day(2023)
        add(SimListing(code, standard_code(code), f"{broker}스팩{n}호", f"{broker_en} SPAC No.{n}", "KOSDAQ", "spac",
                       "ST", listed, par_value=100))
    for _ in range(_N_FOREIGN):
        name_ko, name_en = b.company_name()
        code = b.code(0, lo=90_000, hi=99_999)
        add(SimListing(code, standard_code(code), name_ko + "(케이만)", name_en + " (Cayman)", "KOSDAQ", "other",
                       "FS", b.past_day(2009)))

    listings = tuple(sorted(out.values(), key=lambda x: (x.market, x.code)))
    COLLISIONS.setdefault(seed, collisions)
    return listings


COLLISIONS: dict[int, dict[str, tuple[str, str]]] = {}


def _replace(item: SimListing, **changes: object) -> SimListing:
    from dataclasses import replace

    return replace(item, **changes)  # type: ignore[arg-type]


def simulated_listings(seed: int = 7) -> list[SimListing]:
    """Every listing of the simulated market over its year (listed or not on a given day)."""
    return list(_build(seed))


def listings_by_code(seed: int = 7) -> dict[str, SimListing]:
    return _by_code(seed)


@lru_cache(maxsize=4)
def _by_code(seed: int) -> dict[str, SimListing]:
    return {x.code: x for x in _build(seed)}


def listed_on(day: date, seed: int = 7) -> list[SimListing]:
    """The listings in the master file of ``day`` (KOSPI first, by code)."""
    return [x for x in _build(seed) if x.is_listed(day)]


def collisions(seed: int = 7) -> dict[str, tuple[str, str]]:
    """The planted name collisions: kind -> the two codes involved."""
    _build(seed)
    return dict(COLLISIONS[seed])


def name_on(code: str, day: date, seed: int = 7) -> str | None:
    item = _by_code(seed).get(code)
    return item.name_on(day) if item else None


def change_days(seed: int = 7) -> list[date]:
    """Every day something changes in the master (sorted), for tests and the benchmarks."""
    days: set[date] = set()
    for x in _build(seed):
        days.add(x.listed_on)
        if x.delisted_on:
            days.add(x.delisted_on)
        days.update(c.day for c in x.renames)
        for start, end in (*x.suspensions, *x.administrative):
            days.add(start)
            if end:
                days.add(end)
    return sorted(d for d in days if d >= SIM_YEAR_START)

