"""Stock links: which tracked stocks an article is about, and the evidence for each link.

Matching rules (all evidence is kept in ``StockLink.evidence``):

- **Code mentions** (``삼성전자(005930)``, ``A005930``): a tracked code links at once. A parenthesised
  six-digit code we do not track is counted in ``LinkResult.unknown_codes`` and links nothing.
- **Names and aliases** from ``stocks`` (Korean and English), longest first, so ``SK하이닉스`` is
  never read as ``SK`` and ``카카오게임즈`` never as ``카카오``. The character before a match must not
  be a letter, digit or Hangul syllable; after a match, Hangul may follow only as particles
  (``삼성전자가``, ``LG는``, ``KT와``, ``삼성전자발``), so ``LG유플러스``, ``카카오뱅크`` or
  ``삼성전자우`` (different listings) do not link. Latin aliases need a word boundary and never
  continue with ``&`` (``KT&G`` is another company).
- **Ambiguous aliases** are short or common words: Latin aliases of three letters or fewer (``SK``,
  ``LG``, ``KT``, ``HMM``, ``Kia`` — "hmm" and "KIA" are common in English chatter), which must also
  match in their exact case, and Korean words in ``COMMON_WORD_ALIASES`` (``기아`` also means famine).
  They link only with corroboration: the stock's code in the text, another of its aliases, or a
  stock-market context word (``FINANCE_CONTEXT``: 주가, 실적, 목표주가, 코스피, shares, earnings …; for a
  Korean common word only within ``CONTEXT_WINDOW`` characters of it, so that "지원 대상 기업 …
  관련 종목" does not link 대상), and not when a word of ``NEGATIVE_CONTEXT`` (기아 → 난민 …) is present.
- A name followed by a share class (``대한식품2우B``) is another listing and does not link.

Confidence: code 0.95; official name 0.9; other unambiguous alias 0.8; ambiguous alias corroborated
by the code 0.9, by another alias 0.75, by market context 0.6; +0.05 when matched in the title.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

AliasKind = Literal["name", "name_en", "alias"]

# Korean names that are also everyday words (기아 famine, 대상 target/subject, 신세계 new world).
COMMON_WORD_ALIASES = frozenset({"기아", "삼전", "대상", "신세계"})
# A Korean common-word alias is corroborated by market context only this close to it (same field).
CONTEXT_WINDOW = 10
# A share class written after a name (삼성전자2우B, 대한식품3우B) is another listing.
_SHARE_CLASS = re.compile(r"[0-9]우")
MAX_AMBIGUOUS_LATIN = 3
FINANCE_CONTEXT = (
    "주가", "주식", "종목", "목표주가", "목표가", "시가총액", "시총", "코스피", "코스닥", "유가증권", "상장",
    "공시", "영업이익", "순이익", "매출", "실적", "호실적", "투자의견", "증권가", "자사주", "배당", "지분",
    "장중", "신고가", "신저가", "순매수", "순매도", "수주", "급등", "급락", "상한가", "하한가", "株",
    "shares", "stock", "earnings", "kospi", "kosdaq", "dividend", "buyback", "price target", "market cap",
)
NEGATIVE_CONTEXT: dict[str, tuple[str, ...]] = {
    "기아": ("난민", "빈곤", "굶주림", "식량난", "아동", "구호"),
}
PARTICLES = frozenset(
    {
        "은", "는", "이", "가", "을", "를", "의", "에", "와", "과", "도", "만", "로", "으로", "에서", "에게",
        "께", "까지", "부터", "보다", "처럼", "이나", "나", "랑", "이랑", "하고", "측", "발", "향", "등",
        "이며", "이자", "이고", "로서", "로써", "마저", "조차", "뿐", "엔", "에선", "선",
    }
)
_MAX_PARTICLE = max(len(p) for p in PARTICLES)
_CODE = re.compile(r"(?<![0-9A-Za-z])(\(?)A?(\d{6})(?!\d)(\)?)")
_HANGUL_RUN = re.compile(r"[가-힣]+")
_LATIN_END = re.compile(r"[0-9A-Za-z]$")

CONFIDENCE = {"code": 0.95, "name": 0.9, "name_en": 0.9, "alias": 0.8}
CORROBORATED = {"code": 0.9, "alias": 0.75, "finance_context": 0.6}
TITLE_BONUS = 0.05


@dataclass(frozen=True)
class LinkTarget:
    """A stock the linker may link to (built from the ``stocks`` table or ``universe.Listing``)."""

    code: str
    name: str
    name_en: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Alias:
    text: str
    code: str
    kind: AliasKind
    ambiguous: bool


class StockLink(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    confidence: float
    evidence: dict[str, Any]


@dataclass
class LinkResult:
    links: list[StockLink] = field(default_factory=list)
    unknown_codes: list[str] = field(default_factory=list)
    rejected: int = 0  # ambiguous matches left unlinked for lack of corroboration

    @property
    def codes(self) -> list[str]:
        return [link.code for link in self.links]


def is_ambiguous(alias: str) -> bool:
    if alias in COMMON_WORD_ALIASES:
        return True
    return alias.isascii() and len(alias.replace(" ", "")) <= MAX_AMBIGUOUS_LATIN


@lru_cache(maxsize=4096)
def _is_particles(run: str) -> bool:
    """True when a Hangul run is one or more particles (``에서도``, ``과의``)."""
    if not run:
        return True
    for size in range(min(_MAX_PARTICLE, len(run)), 0, -1):
        if run[:size] in PARTICLES and _is_particles(run[size:]):
            return True
    return False


def _target_aliases(target: LinkTarget) -> Iterator[tuple[str, AliasKind]]:
    """A target's names and aliases, stripped, each spelling (ignoring case) once: the first kind wins,
    so an alias repeating the official name keeps the name's higher confidence."""
    entries: list[tuple[str, AliasKind]] = [(target.name, "name")]
    if target.name_en:
        entries.append((target.name_en, "name_en"))
    entries.extend((a, "alias") for a in target.aliases)
    seen: set[str] = set()
    for text, kind in entries:
        text = text.strip()
        if not text or text.casefold() in seen:
            continue
        seen.add(text.casefold())
        yield text, kind


def _alias_index(targets: Iterable[LinkTarget]) -> dict[str, list[_Alias]]:
    """casefolded spelling -> the aliases spelled so (several stocks may share one, e.g. a former name)."""
    by_text: dict[str, list[_Alias]] = defaultdict(list)
    for target in targets:
        for text, kind in _target_aliases(target):
            by_text[text.casefold()].append(_Alias(text, target.code, kind, is_ambiguous(text)))
    return dict(by_text)


def _alias_regex(aliases: Mapping[str, list[_Alias]]) -> re.Pattern[str] | None:
    """One alternation over every spelling, longest first (``SK하이닉스`` before ``SK``), so one pass of
    the text finds every candidate; Latin endings need a word boundary and never continue with ``&``."""
    patterns = []
    for key in sorted(aliases, key=len, reverse=True):
        text = aliases[key][0].text
        pattern = re.escape(text)
        if _LATIN_END.search(text):
            pattern += r"(?![0-9A-Za-z&])"
        patterns.append(pattern)
    if not patterns:
        return None
    left = r"(?<![0-9A-Za-z가-힣])"
    return re.compile(left + "(?:" + "|".join(patterns) + ")", re.IGNORECASE)


_AliasHit = tuple[_Alias, str, int]  # (alias, field, start)


@dataclass
class _Mentions:
    """What the scan of one item's fields found, before any linking decision: the decision for a stock
    needs evidence from every field (a code in the body corroborates an alias in the title)."""

    code_hits: dict[str, tuple[str, int]] = field(default_factory=dict)  # tracked code -> first (field, start)
    aliases: dict[str, list[_AliasHit]] = field(default_factory=lambda: defaultdict(list))  # code -> alias hits
    unknown_codes: list[str] = field(default_factory=list)
    context: tuple[str, str] | None = None  # the first market-context word of the item, and its field
    near: dict[tuple[str, str], str] = field(default_factory=dict)  # (code, field) -> context by a common word
    texts: list[str] = field(default_factory=list)

    @cached_property
    def joined(self) -> str:
        """All the item's text, for negative-context words (looked for only when a decision needs them)."""
        return "\n".join(self.texts)

    def in_title(self, code: str) -> bool:
        return any(f == "title" for _, f, _ in self.aliases.get(code, ())) or (
            self.code_hits.get(code, ("",))[0] == "title"
        )


_Decision = tuple[float, dict[str, Any] | None]  # (confidence, corroboration)


def _evidence_matches(code: str, found: list[_AliasHit], mentions: _Mentions) -> list[dict[str, Any]]:
    """The evidence kept with a link: the code mention first, then up to five alias matches."""
    evidence = [
        {"text": a.text, "field": f, "start": p, "kind": a.kind, "ambiguous": a.ambiguous} for a, f, p in found[:5]
    ]
    if code in mentions.code_hits:
        field_name, pos = mentions.code_hits[code]
        evidence.insert(0, {"text": code, "field": field_name, "start": pos, "kind": "code", "ambiguous": False})
    return evidence


def _decide_with_code(code: str, found: list[_AliasHit], clear: list[_Alias]) -> _Decision:
    """A tracked code in the text links by itself; when only ambiguous aliases came with it, the code is
    what corroborates them (and the link says so)."""
    if found and not clear:
        return CORROBORATED["code"], {"by": "code", "value": code}
    confidence = CONFIDENCE["code"]
    if clear:
        confidence = max(confidence, max(CONFIDENCE[a.kind] for a in clear))
    return confidence, None


def _corroborate_ambiguous(code: str, found: list[_AliasHit], mentions: _Mentions) -> _Decision | None:
    """Disambiguation of a stock named only by ambiguous aliases: None (rejected) unless another alias
    or market context backs it, and never against a negative-context word (기아 … 난민)."""
    texts = {a.text for a, _, _ in found}
    if any(w in mentions.joined for t in texts for w in NEGATIVE_CONTEXT.get(t, ())):
        return None
    if len(texts) > 1:
        return CORROBORATED["alias"], {"by": "alias", "value": sorted(texts)}
    if any(not t.isascii() for t in texts):
        # A Korean common word needs the context right next to it, not anywhere in the item.
        nearby = next(((f, w) for (c, f), w in mentions.near.items() if c == code), None)
        if nearby is None:
            return None
        return CORROBORATED["finance_context"], {"by": "finance_context", "value": nearby[1], "field": nearby[0]}
    if mentions.context is not None:
        word, field_name = mentions.context
        return CORROBORATED["finance_context"], {"by": "finance_context", "value": word, "field": field_name}
    return None


def _decide(code: str, mentions: _Mentions) -> _Decision | None:
    """Scoring of one candidate stock: by code, by an unambiguous alias, or by corroboration."""
    found = mentions.aliases.get(code, [])
    clear = [a for a, _, _ in found if not a.ambiguous]
    if code in mentions.code_hits:
        return _decide_with_code(code, found, clear)
    if clear:
        return max(CONFIDENCE[a.kind] for a in clear), None
    return _corroborate_ambiguous(code, found, mentions)


class StockLinker:
    """Links items to the tracked stocks ``targets``: built once per run (one regex over every alias),
    then ``link`` per item."""

    def __init__(self, targets: Iterable[LinkTarget]) -> None:
        self.targets = {t.code: t for t in targets}
        self._aliases = _alias_index(self.targets.values())
        self._regex = _alias_regex(self._aliases)
        self._finance = re.compile("|".join(re.escape(w) for w in FINANCE_CONTEXT), re.IGNORECASE)

    # --- matching ---------------------------------------------------------------------------------
    def _alias_matches(self, field_name: str, text: str) -> list[tuple[_Alias, int]]:
        if self._regex is None:
            return []
        out: list[tuple[_Alias, int]] = []
        for match in self._regex.finditer(text):
            found = match.group(0)
            end = match.end()
            follow = _HANGUL_RUN.match(text, end)
            if follow and not _is_particles(follow.group(0)):
                continue
            if _SHARE_CLASS.match(text, end):
                continue
            for alias in self._aliases.get(found.casefold(), ()):
                # Short Latin aliases only in their own case: "hmm" is not HMM, "kia" not Kia.
                if alias.ambiguous and alias.text.isascii() and found != alias.text:
                    continue
                out.append((alias, match.start()))
        return out

    # --- candidate generation ---------------------------------------------------------------------
    def _scan(self, fields: Mapping[str, str | None]) -> _Mentions:
        """Every code, alias and market-context mention of the item, field by field."""
        mentions = _Mentions()
        for field_name, text in fields.items():
            if not text:
                continue
            mentions.texts.append(text)
            self._scan_codes(field_name, text, mentions)
            self._scan_aliases(field_name, text, mentions)
            if mentions.context is None and (hit := self._finance.search(text)):
                mentions.context = (hit.group(0), field_name)
        return mentions

    def _scan_codes(self, field_name: str, text: str, mentions: _Mentions) -> None:
        """Tracked codes (first mention kept); an untracked code counts only when parenthesised."""
        for m in _CODE.finditer(text):
            code = m.group(2)
            if code in self.targets:
                mentions.code_hits.setdefault(code, (field_name, m.start(2)))
            elif m.group(1) == "(" and m.group(3) == ")":
                mentions.unknown_codes.append(code)

    def _scan_aliases(self, field_name: str, text: str, mentions: _Mentions) -> None:
        """Alias hits per stock, and market context next to a Korean common word (its only corroboration
        short of another alias or the code)."""
        for alias, pos in self._alias_matches(field_name, text):
            mentions.aliases[alias.code].append((alias, field_name, pos))
            if alias.ambiguous and not alias.text.isascii() and (alias.code, field_name) not in mentions.near:
                window = text[max(0, pos - CONTEXT_WINDOW):pos + len(alias.text) + CONTEXT_WINDOW]
                if hit := self._finance.search(window):
                    mentions.near[(alias.code, field_name)] = hit.group(0)

    # --- linking ----------------------------------------------------------------------------------
    def link(self, fields: Mapping[str, str | None]) -> LinkResult:
        """Links for an item whose texts are ``fields`` (e.g. title, summary, body)."""
        mentions = self._scan(fields)
        result = LinkResult(unknown_codes=mentions.unknown_codes)
        for code in sorted(set(mentions.code_hits) | set(mentions.aliases)):
            decision = _decide(code, mentions)
            if decision is None:
                result.rejected += 1
                continue
            confidence, corroboration = decision
            if mentions.in_title(code):
                confidence = min(0.99, confidence + TITLE_BONUS)
            result.links.append(
                StockLink(
                    code=code,
                    confidence=round(confidence, 3),
                    evidence={
                        "matches": _evidence_matches(code, mentions.aliases.get(code, []), mentions),
                        "corroboration": corroboration,
                    },
                )
            )
        return result
