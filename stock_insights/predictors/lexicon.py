"""A small Korean/English financial sentiment lexicon for the news-tone baseline.

Common headline vocabulary of Korean market news (and English for Reddit), weighted: strong words 2,
ordinary ones 1. Matching is on substrings of the normalised text, longest phrases first, so that
"목표주가 상향" is not also read as "상향" twice. It is a baseline: no negation handling, no context.
"""

from __future__ import annotations

import re
import unicodedata

POSITIVE: dict[str, float] = {
    "급등": 2,
    "신고가": 2,
    "어닝서프라이즈": 2,
    "상한가": 2,
    "사상 최대": 2,
    "최대 실적": 2,
    "흑자전환": 2,
    "호실적": 1,
    "수주": 1,
    "목표주가 상향": 1,
    "상향": 1,
    "강세": 1,
    "반등": 1,
    "호조": 1,
    "매수": 1,
    "배당 확대": 1,
    "자사주 매입": 1,
    "자기주식취득": 1,
    "성장": 1,
    "개선": 1,
    "기대감": 1,
    "순매수": 1,
    "soars": 2,
    "record high": 2,
    "beats estimates": 1,
    "upgrade": 1,
    "rally": 1,
    "surge": 2,
    "bullish": 1,
}
NEGATIVE: dict[str, float] = {
    "급락": 2,
    "신저가": 2,
    "어닝쇼크": 2,
    "하한가": 2,
    "적자전환": 2,
    "상장폐지": 2,
    "횡령": 2,
    "부진": 1,
    "목표주가 하향": 1,
    "하향": 1,
    "약세": 1,
    "소송": 1,
    "리콜": 1,
    "제재": 1,
    "손실": 1,
    "적자": 1,
    "감산": 1,
    "우려": 1,
    "매도": 1,
    "순매도": 1,
    "악재": 1,
    "하락": 1,
    "plunges": 2,
    "record low": 2,
    "misses estimates": 1,
    "downgrade": 1,
    "lawsuit": 1,
    "bearish": 1,
    "selloff": 1,
}

_TERMS = sorted(
    [(w, s) for w, s in POSITIVE.items()] + [(w, -s) for w, s in NEGATIVE.items()], key=lambda item: -len(item[0])
)
_SPACES = re.compile(r"\s+")


def tone(text: str) -> tuple[float, dict[str, int]]:
    """Tone in [-1, 1] ((pos - neg) / (pos + neg)), and the terms that matched with their counts."""
    remaining = _SPACES.sub(" ", unicodedata.normalize("NFKC", text).lower())
    pos = neg = 0.0
    matched: dict[str, int] = {}
    for term, weight in _TERMS:
        count = remaining.count(term)
        if count:
            matched[term] = count
            remaining = remaining.replace(term, " ")
            if weight > 0:
                pos += weight * count
            else:
                neg += -weight * count
    total = pos + neg
    return ((pos - neg) / total if total else 0.0), matched
