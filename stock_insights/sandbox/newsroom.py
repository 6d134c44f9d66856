"""A deterministic Korean newsroom for the sandbox: headlines and posts whose wording follows the
simulated market's latent news tone.

What it writes
    For every KRX session and every known listing (``universe.KNOWN_LISTINGS``) two or three stories,
    published between 06:30 and 21:30 KST by 한국경제 (hankyung), 매일경제 (maeil) or another press
    (연합뉴스, 이데일리, 뉴스1, 머니투데이); a few market-wide stories that name no stock (some with
    traps: ``기아`` meaning famine, English "hmm"); on weekends and holidays only market-wide stories.
    Stories are the same in every process for the same ``seed`` (``random.Random`` seeded from a CRC of
    seed, kind, code and day). Every story has a hidden publication time; the routers only show it once
    the sandbox clock has passed it.

The planted relation, in words (``SimulatedMarket`` docstring has the numbers)
    A stock's stories on session ``t`` are worded after ``tone(code, t)`` through ``LEXICON``; the next
    session's return rises with that tone. So a news-tone baseline can learn from text alone: count
    the words of each band in a stock's headlines of day ``t`` and forecast day ``t+1``.

    ===================  ===========  ================================================
    band                 tone         headline words (Korean / English for Reddit)
    ===================  ===========  ================================================
    strong_positive      ≥ 0.6        급등, 신고가, 어닝서프라이즈, 상한가 / soars, record high
    positive             [0.2, 0.6)   호실적, 수주, 목표주가 상향, 강세 / beats estimates, upgrade
    neutral              (-0.2, 0.2)  보합, 관망, 혼조, 제자리 / flat, wait-and-see
    negative             (-0.6, -0.2] 부진, 목표주가 하향, 약세, 소송 / misses estimates, downgrade, lawsuit
    strong_negative      ≤ -0.6       급락, 신저가, 어닝쇼크, 하한가 / plunges, record low
    ===================  ===========  ================================================

Traps the pipeline must survive (all deterministic)
    - the same story from Naver and a paper's feed: Naver's ``originallink`` is the paper's URL, half
      of the time with ``utm_*`` tracking parameters; Naver's own ``link`` is a Naver News URL with
      ``?sid=101``;
    - syndicated copies: a wire-service story with exactly a paper's headline under another URL;
    - re-deliveries: about 5 % of stories reach Naver again hours later (same URL and headline), which
      puts duplicates on different result pages;
    - entity-laden headlines (quotes, ``R&D``, ``M&A``, ``<단독>``), code mentions ``(005930)``,
      ambiguous names (LG, SK, KT, 기아, HMM) mostly with, sometimes without, market context;
    - Reddit link posts to a paper's article (with ``?utm_source=reddit``) and English self posts.
"""

from __future__ import annotations

import random
import threading
import zlib
from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from stock_insights.sandbox.market import KST, SimulatedMarket
from stock_insights.universe import KNOWN_LISTINGS, Listing

Band = Literal["strong_positive", "positive", "neutral", "negative", "strong_negative"]
Publisher = Literal["hankyung", "maeil", "yna", "edaily", "news1", "mt"]

LEXICON: dict[Band, tuple[str, ...]] = {
    "strong_positive": ("급등", "신고가", "어닝서프라이즈", "상한가"),
    "positive": ("호실적", "수주", "목표주가 상향", "강세"),
    "neutral": ("보합", "관망", "혼조", "제자리"),
    "negative": ("부진", "목표주가 하향", "약세", "소송"),
    "strong_negative": ("급락", "신저가", "어닝쇼크", "하한가"),
}
LEXICON_EN: dict[Band, tuple[str, ...]] = {
    "strong_positive": ("soars", "hits a record high"),
    "positive": ("beats estimates", "gets an upgrade"),
    "neutral": ("trades flat", "sees wait-and-see trading"),
    "negative": ("misses estimates", "gets a downgrade"),
    "strong_negative": ("plunges", "hits a record low"),
}
_CAUSES: dict[Band, tuple[str, ...]] = {
    "strong_positive": ("대규모 공급 계약에", "실적 기대감에", "외국인 매수세에", "AI 수요 폭증에"),
    "positive": ("수출 호조에", "신제품 기대에", "증권가 호평에", "업황 회복에"),
    "neutral": ("실적 발표 앞두고", "금리 결정 앞두고", "방향성 탐색 속", "거래량 감소 속"),
    "negative": ("업황 둔화 우려에", "원가 부담에", "규제 리스크에", "수요 둔화에"),
    "strong_negative": ("실적 쇼크에", "대규모 리콜에", "외국인 매도 폭탄에", "검찰 수사 소식에"),
}
_QUOTES = ("AI 수요 견조", "하반기 반등", "투자 확대", "불확실성 여전", "체질 개선")
# Market-wide headlines; {n} is a number of the day so that a recurring headline is not the same text.
_MACRO = (
    "코스피, 외국인 순매도에 0.{n}% 하락 마감",
    "원·달러 환율 1,3{n}0원대 보합",
    "한은 기준금리 동결…\"물가 경로 점검\" ({n}차 회의)",
    "아프리카 기아 난민 구호 성금 {n}억원 전달",
    "국고채 3년물 금리 2.{n}%대 혼조…미 국채 금리 주시",
    "코스닥, 개인 매수에 0.{n}% 상승 마감",
    "부동산 PF 부실 우려 재점화…{n}개 사업장 점검",
)
_MACRO_EN = (
    "hmm, is anyone else watching the won this week?",
    "Weekly discussion thread: Korean markets",
    "Why do Korean ETFs trade at a discount?",
)
SUBREDDITS = ("korea", "stocks", "investing")
_OTHER_PRESS: tuple[Publisher, ...] = ("yna", "edaily", "news1", "mt")
NAVER_OID: dict[str, str] = {"hankyung": "015", "maeil": "009", "yna": "001", "edaily": "018", "news1": "421",
                             "mt": "008"}
_SALT_STORY, _SALT_REDDIT, _SALT_MACRO = "story", "reddit", "macro"
_ORDINAL_BASE = date(2015, 1, 1).toordinal()


def band_of(tone: float) -> Band:
    if tone >= 0.6:
        return "strong_positive"
    if tone >= 0.2:
        return "positive"
    if tone > -0.2:
        return "neutral"
    if tone > -0.6:
        return "negative"
    return "strong_negative"


@dataclass(frozen=True, slots=True)
class Story:
    story_id: str
    day: date
    codes: tuple[str, ...]  # the stocks the story is about (ground truth for linking)
    tone: float | None
    band: Band
    publisher: Publisher
    section: Literal["stock", "economy"]
    title: str
    body: str
    url: str  # the publisher's URL
    published_at: datetime  # KST
    naver_aid: int
    naver_hosted: bool  # Naver's ``link`` is its own copy (else the original URL)
    naver_tracking: bool  # Naver's ``originallink`` carries utm_* parameters
    naver_delay_minutes: int  # Naver's pubDate is later than the paper's
    redelivered_minutes: int | None  # a second Naver delivery this many minutes later
    syndicated_from: str | None = None


@dataclass(frozen=True, slots=True)
class RedditPost:
    post_id: str  # base36, without "t3_"
    subreddit: str
    day: date
    codes: tuple[str, ...]
    title: str
    selftext: str
    url: str | None  # a link post's target; None for self posts
    created: datetime  # KST
    author: str

    @property
    def fullname(self) -> str:
        return f"t3_{self.post_id}"


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(zlib.crc32("|".join(str(p) for p in (seed, *parts)).encode()))


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _subject(listing: Listing, rng: random.Random) -> str:
    """The name a headline uses: mostly the official name, sometimes a Korean alias."""
    korean = [a for a in listing.aliases if not a.isascii() and a != listing.name]
    if korean and rng.random() < 0.25:
        return rng.choice(korean)
    return listing.name


def _needs_context(name: str) -> bool:
    return name in ("기아", "삼전") or (name.isascii() and len(name) <= 3)


class Newsroom:
    """Stories and Reddit posts per day, cached (LRU of ``cache_days`` days)."""

    def __init__(self, market: SimulatedMarket, *, seed: int | None = None, listings: dict[str, Listing] | None = None,
                 cache_days: int = 1024) -> None:
        self.market = market
        self.seed = market.seed if seed is None else seed
        self.listings = dict(listings or KNOWN_LISTINGS)
        self._stories: OrderedDict[date, list[Story]] = OrderedDict()
        self._posts: OrderedDict[date, list[RedditPost]] = OrderedDict()
        self._cache_days = cache_days
        self._lock = threading.Lock()

    # --- stories --------------------------------------------------------------------------------
    def stories(self, day: date) -> list[Story]:
        """Every story of ``day`` (published or not yet), earliest first."""
        with self._lock:
            cached = self._stories.get(day)
            if cached is not None:
                self._stories.move_to_end(day)
                return cached
        made = self._make_stories(day)
        with self._lock:
            self._stories[day] = made
            while len(self._stories) > self._cache_days:
                self._stories.popitem(last=False)
        return made

    def published(self, day: date, now: datetime) -> list[Story]:
        return [s for s in self.stories(day) if s.published_at <= now]

    def _make_stories(self, day: date) -> list[Story]:
        out: list[Story] = []
        serials: Counter[str] = Counter()
        session = self.market.is_session(day)
        if session:
            for code, listing in self.listings.items():
                tone = self.market.tone(code, day)
                rng = _rng(self.seed, _SALT_STORY, code, day.toordinal())
                titles: set[str] = set()
                for index in range(2 + (rng.random() < 0.5)):
                    # Two different stories of one stock and day never share a headline: same text
                    # means the same story (wire copies below are the deliberate exception).
                    for _attempt in range(8):
                        story = self._stock_story(listing, day, tone, index, rng, serials)
                        if story.title not in titles:
                            break
                    titles.add(story.title)
                    out.append(story)
        rng = _rng(self.seed, _SALT_MACRO, day.toordinal())
        for index in range(4 if session else 2):
            out.append(self._macro_story(day, index, rng, serials))
        # Wire copies: the same headline under a wire service's URL (same text, other URL).
        for story in [s for s in out if s.publisher == "hankyung" and s.codes]:
            if _rng(self.seed, "syndicate", story.story_id).random() < 0.2:
                out.append(self._syndicated(story, serials))
        out.sort(key=lambda s: (s.published_at, s.story_id))
        return out

    def _time(self, day: date, rng: random.Random) -> datetime:
        minutes = rng.randint(6 * 60 + 30, 21 * 60 + 30)
        return datetime.combine(day, time(0), tzinfo=KST) + timedelta(minutes=minutes, seconds=rng.randint(0, 59))

    @staticmethod
    def _url(publisher: Publisher, section: str, day: date, serial: int) -> str:
        """The publisher's URL of its ``serial``-th story of ``day``: unique per publisher, as real ones are."""
        days = day.toordinal() - _ORDINAL_BASE
        if publisher == "hankyung":
            return f"https://www.hankyung.com/article/{day:%Y%m%d}{serial:04d}i"
        if publisher == "maeil":
            folder = "stock" if section == "stock" else "economy"
            return f"https://www.mk.co.kr/news/{folder}/{10_000_000 + days * 1000 + serial}"
        if publisher == "yna":
            return f"https://www.yna.co.kr/view/AKR{day:%Y%m%d}{serial:06d}008"
        if publisher == "edaily":
            return f"https://www.edaily.co.kr/News/Read?newsId={day:%Y%m%d}{serial:05d}&mediaCodeNo=257"
        if publisher == "news1":
            return f"https://www.news1.kr/articles/{5_000_000 + days * 1000 + serial}"
        return f"https://news.mt.co.kr/mtview.php?no={day:%Y%m%d}{serial:05d}"

    @staticmethod
    def _aid(day: date, serial: int) -> int:
        """Naver's article id: unique per press office."""
        return (day.toordinal() - _ORDINAL_BASE) * 10_000 + serial

    def _stock_story(self, listing: Listing, day: date, tone: float, index: int, rng: random.Random,
                     serials: Counter[str]) -> Story:
        band = band_of(tone)
        name = _subject(listing, rng)
        word = rng.choice(LEXICON[band])
        cause = rng.choice(_CAUSES[band])
        shape = rng.random()
        if shape < 0.12:
            title = f"{name} \"{rng.choice(_QUOTES)}\"…{cause} {word}"
        elif shape < 0.17:
            title = f"<단독> {name}, R&D 투자 확대…{word}"
        elif shape < 0.22:
            title = f"{name}({listing.code}) {cause} {word}"
        elif shape < 0.27:
            title = f"{name}, M&A 추진설에 {word}"
        elif shape < 0.6:
            title = f"{name}, {cause} {word}"
        else:
            # Most headlines carry a figure of the day (a move, a target price), which also keeps two
            # days' stories of one stock from sharing a headline by chance.
            title = f"{name}, {cause} {word}…{rng.randint(1, 99) / 10:.1f}%"
        if _needs_context(name) and rng.random() < 0.85:
            # Short or common-word names mostly come with market context, as real headlines do.
            title = f"{name} 주가, {cause} {word}" + (f"…{rng.randint(1, 99) / 10:.1f}%" if shape >= 0.6 else "")
        body = (
            f"{listing.name}({listing.code}) 주가가 {cause} {word} 흐름을 보였다. "
            f"증권가에서는 {listing.name}의 향후 실적과 업황을 주시하고 있다."
            if rng.random() < 0.6
            else f"{listing.name}이(가) {cause} {word}. 시장에서는 {rng.choice(_QUOTES)} 전망이 나왔다."
        )
        roll = rng.random()
        publisher: Publisher = "hankyung" if roll < 0.35 else "maeil" if roll < 0.65 else rng.choice(_OTHER_PRESS)
        serials[publisher] += 1
        return Story(
            story_id=f"{day:%Y%m%d}-{listing.code}-{index}",
            day=day,
            codes=(listing.code,),
            tone=tone,
            band=band,
            publisher=publisher,
            section="stock" if rng.random() < 0.8 else "economy",
            title=title,
            body=body,
            url=self._url(publisher, "stock", day, serials[publisher]),
            published_at=self._time(day, rng),
            naver_aid=self._aid(day, serials[publisher]),
            naver_hosted=rng.random() < 0.5,
            naver_tracking=rng.random() < 0.5,
            naver_delay_minutes=rng.randint(1, 4),
            redelivered_minutes=rng.randint(60, 240) if rng.random() < 0.05 else None,
        )

    def _macro_story(self, day: date, index: int, rng: random.Random, serials: Counter[str]) -> Story:
        publisher: Publisher = rng.choice(("hankyung", "maeil", "yna"))
        serials[publisher] += 1
        title = _MACRO[(day.toordinal() + index) % len(_MACRO)].format(n=rng.randint(1, 9))
        return Story(
            story_id=f"{day:%Y%m%d}-macro-{index}",
            day=day,
            codes=(),
            tone=None,
            band="neutral",
            publisher=publisher,
            section="economy",
            title=title,
            body=f"{title}. 시장 참가자들은 대외 변수를 주시하고 있다.",
            url=self._url(publisher, "economy", day, serials[publisher]),
            published_at=self._time(day, rng),
            naver_aid=self._aid(day, serials[publisher]),
            naver_hosted=rng.random() < 0.5,
            naver_tracking=False,
            naver_delay_minutes=rng.randint(1, 4),
            redelivered_minutes=None,
        )

    def _syndicated(self, story: Story, serials: Counter[str]) -> Story:
        serials["yna"] += 1
        return Story(
            story_id=f"{story.story_id}-wire",
            day=story.day,
            codes=story.codes,
            tone=story.tone,
            band=story.band,
            publisher="yna",
            section=story.section,
            title=story.title,
            body=story.body,
            url=self._url("yna", story.section, story.day, serials["yna"]),
            published_at=story.published_at + timedelta(minutes=7),
            naver_aid=self._aid(story.day, serials["yna"]),
            naver_hosted=True,
            naver_tracking=False,
            naver_delay_minutes=2,
            redelivered_minutes=None,
            syndicated_from=story.story_id,
        )

    # --- Reddit ---------------------------------------------------------------------------------
    def reddit_posts(self, day: date) -> list[RedditPost]:
        with self._lock:
            cached = self._posts.get(day)
            if cached is not None:
                self._posts.move_to_end(day)
                return cached
        made = self._make_posts(day)
        with self._lock:
            self._posts[day] = made
            while len(self._posts) > self._cache_days:
                self._posts.popitem(last=False)
        return made

    def _make_posts(self, day: date) -> list[RedditPost]:
        rng = _rng(self.seed, _SALT_REDDIT, day.toordinal())
        posts: list[RedditPost] = []
        stories = self.stories(day)
        if self.market.is_session(day):
            codes = sorted(self.listings)
            for index, code in enumerate(rng.sample(codes, k=min(4, len(codes)))):
                listing = self.listings[code]
                band = band_of(self.market.tone(code, day))
                words = rng.choice(LEXICON_EN[band])
                paper = [s for s in stories if s.codes == (code,) and s.publisher == "hankyung"]
                created = self._time(day, rng) + timedelta(minutes=30)
                if paper and rng.random() < 0.5:
                    title = f"{listing.name_en} {words} - Korea Economic Daily"
                    url: str | None = paper[0].url + "?utm_source=reddit&utm_medium=social"
                    created = max(created, paper[0].published_at + timedelta(minutes=20))
                    selftext = ""
                else:
                    title = f"{listing.name_en} ({code}) {words} today"
                    url = None
                    selftext = f"{listing.name_en} stock {words}. Anyone holding {listing.name_en} shares?"
                posts.append(self._post(day, index, rng.choice(SUBREDDITS), (code,), title, selftext, url, created))
        for index, title in enumerate(rng.sample(_MACRO_EN, k=1)):
            created = self._time(day, rng)
            posts.append(self._post(day, 100 + index, rng.choice(SUBREDDITS), (), title, "Just curious.", None,
                                    created))
        posts.sort(key=lambda p: (p.created, p.post_id))
        return posts

    def _post(self, day: date, index: int, sub: str, codes: tuple[str, ...], title: str, selftext: str,
              url: str | None, created: datetime) -> RedditPost:
        number = zlib.crc32(f"reddit|{self.seed}|{day}|{index}".encode())
        return RedditPost(
            post_id=_base36(day.toordinal() * 1000 + index) + _base36(number % 1296),
            subreddit=sub,
            day=day,
            codes=codes,
            title=title,
            selftext=selftext,
            url=url,
            created=created,
            author=f"investor_{number % 9973}",
        )


# --- a labelled set over the whole simulated market (issue 15: linking at market scale) ------------
@dataclass(frozen=True, slots=True)
class LabelledArticle:
    """An article and the tracked stocks it is truly about (``codes``); ``traps`` names what it tests."""

    article_id: str
    day: date
    title: str
    body: str
    codes: tuple[str, ...]
    traps: tuple[str, ...]


_LINK_PARTICLES = ("", "가", "는", "의", "와", "도", "이", "은")
_TRAP_KINDS = ("preferred", "common_word", "delisted", "unknown_code", "substring")


def market_targets(day: date, seed: int = 7) -> list[tuple[str, str, tuple[str, ...]]]:
    """``(code, name, aliases)`` of what ``universe/stocks`` tracks on ``day`` with the default policy:
    listed common stocks under their name of that day, aliases of the real names, former names no
    other listing holds that day."""
    from stock_insights.sandbox.listings import listed_on as _listed_on

    listed = _listed_on(day, seed)
    held = {x.name_on(day) for x in listed}
    out = []
    for x in listed:
        if x.security_type != "common":
            continue
        known = KNOWN_LISTINGS.get(x.code)
        former = tuple(n for n in x.former_names(day) if n not in held)
        out.append((x.code, x.name_on(day), tuple(dict.fromkeys((*(known.aliases if known else ()), *former)))))
    return out


def _particle(rng: random.Random, name: str) -> str:
    p = rng.choice(_LINK_PARTICLES)
    if p in ("가", "는", "와") and not name.isascii() and (ord(name[-1]) - 0xAC00) % 28:
        p = {"가": "이", "는": "은", "와": "과"}[p]  # after a final consonant
    return p


def labelled_articles(day: date, count: int, *, seed: int = 7) -> list[LabelledArticle]:
    """``count`` articles of ``day`` over the whole simulated universe, with their true codes.

    About 70 % name one to three tracked stocks (official name, a former name written
    ``새이름(옛 옛이름)``, a real alias, sometimes with the code); the rest hold traps that must link
    nothing extra: a preferred share (``…우``), the common word 대상, a delisted company's name, an
    unknown code, a name that is the prefix of a longer listed name. Deterministic per (seed, day).
    """
    from stock_insights.sandbox.listings import listed_on as _listed_on
    from stock_insights.sandbox.listings import simulated_listings

    rng = _rng(seed, "labelled", day.toordinal())
    targets = market_targets(day, seed)
    by_name = {name: code for code, name, _ in targets}
    listed = _listed_on(day, seed)
    preferred = [x for x in listed if x.security_type == "preferred"]
    gone = [x for x in simulated_listings(seed) if x.delisted_on is not None and x.delisted_on <= day
            and x.name_on(day) not in by_name]
    names = sorted(by_name)  # a name's prefixes sort right before it
    longer = [(by_name[n], n) for i, n in enumerate(names)
              if any(n.startswith(m) for m in names[max(0, i - 50):i])]
    common_word = [code for code, name, _ in targets if name in ("대상", "신세계")]
    out: list[LabelledArticle] = []
    for i in range(count):
        band: Band = rng.choice(tuple(LEXICON))
        word = rng.choice(LEXICON[band])
        cause = rng.choice(_CAUSES[band])
        mentions: list[str] = []
        codes: list[str] = []
        traps: list[str] = []
        for _ in range(1 if rng.random() < 0.6 else rng.randint(2, 3)):
            code, name, aliases = rng.choice(targets)
            if code in codes or name in ("대상", "신세계"):
                continue
            form = name
            korean_aliases = [a for a in aliases if not a.isascii() or len(a) > 3]
            r = rng.random()
            if korean_aliases and r < 0.3:
                alias = rng.choice(korean_aliases)
                form = f"{name}(옛 {alias})" if alias not in (KNOWN_LISTINGS[code].aliases if code in
                                                                 KNOWN_LISTINGS else ()) else alias
            elif r < 0.45:
                form = f"{name}({code})"
            codes.append(code)
            mentions.append(form + _particle(rng, form))
        if rng.random() < 0.3:
            kind = rng.choice(_TRAP_KINDS)
            traps.append(kind)
            if kind == "preferred" and preferred:
                mentions.append(rng.choice(preferred).name_on(day) + " 거래량 급증")
            elif kind == "common_word":
                mentions.append(f"정부 지원 대상 기업 {rng.randint(2, 90)}곳 선정")
                if common_word and rng.random() < 0.3:
                    code = common_word[0]
                    codes.append(code)
                    mentions.append(f"대상({code}) 주가")
            elif kind == "delisted" and gone:
                mentions.append(f"상장폐지된 {rng.choice(gone).name_on(day)} 투자자 소송")
            elif kind == "unknown_code":
                mentions.append(f"비상장사 미래엔({rng.randint(900_000, 999_999)}) 인수")
            elif kind == "substring" and longer:
                code, name = rng.choice(longer)
                if code not in codes:
                    codes.append(code)
                mentions.append(f"{name}{_particle(rng, name)} 신규 수주")
        if not mentions:
            continue
        title = f"{mentions[0]} {word}"
        body = f"{cause} {', '.join(mentions)} 관련 종목 {word}. 증권가는 {rng.choice(_QUOTES)} 전망."
        out.append(LabelledArticle(f"{day:%Y%m%d}-{i:05d}", day, title, body, tuple(dict.fromkeys(codes)),
                                   tuple(traps)))
    return out
