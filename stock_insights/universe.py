"""Reference facts about KRX listings, and the policy that picks the tracked ones from the KIS master.

The codes, names and markets below are real. DART corp codes are filled in from OpenDART's
``corpCode.xml`` by ``dart/corp_codes``; only Samsung Electronics' (checked against a real OpenDART
answer) is seeded here. Aliases are what news text uses for the
company (Korean and English); ``ambiguous`` aliases are common words that only count as a link
with corroborating evidence (issue 4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from stock_insights.clients.kis.master import MasterRow

Market = Literal["KOSPI", "KOSDAQ"]


@dataclass(frozen=True)
class Listing:
    code: str
    name: str
    name_en: str
    market: Market
    dart_corp_code: str | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)


KNOWN_LISTINGS: dict[str, Listing] = {
    listing.code: listing
    for listing in (
        Listing(
            "005930",
            "삼성전자",
            "Samsung Electronics",
            "KOSPI",
            "00126380",
            ("삼성전자", "Samsung Electronics", "삼전"),
        ),
        Listing("000660", "SK하이닉스", "SK hynix", "KOSPI", None, ("SK하이닉스", "하이닉스", "SK hynix", "Hynix")),
        Listing("035420", "NAVER", "NAVER", "KOSPI", None, ("NAVER", "네이버")),
        Listing("035720", "카카오", "Kakao", "KOSPI", None, ("카카오", "Kakao")),
        Listing("005380", "현대차", "Hyundai Motor", "KOSPI", None, ("현대차", "현대자동차", "Hyundai Motor")),
        Listing("051910", "LG화학", "LG Chem", "KOSPI", None, ("LG화학", "LG Chem")),
        Listing("068270", "셀트리온", "Celltrion", "KOSPI", None, ("셀트리온", "Celltrion")),
        Listing("247540", "에코프로비엠", "EcoPro BM", "KOSDAQ", None, ("에코프로비엠", "EcoPro BM")),
        Listing("373220", "LG에너지솔루션", "LG Energy Solution", "KOSPI", None, ("LG에너지솔루션", "LG엔솔", "LGES")),
        Listing(
            "207940",
            "삼성바이오로직스",
            "Samsung Biologics",
            "KOSPI",
            None,
            ("삼성바이오로직스", "삼성바이오", "Samsung Biologics"),
        ),
        Listing(
            "005490", "POSCO홀딩스", "POSCO Holdings", "KOSPI", None, ("POSCO홀딩스", "포스코홀딩스", "POSCO Holdings")
        ),
        Listing("000270", "기아", "Kia", "KOSPI", None, ("기아", "Kia")),
        Listing("105560", "KB금융", "KB Financial Group", "KOSPI", None, ("KB금융", "KB금융지주", "KB Financial")),
        Listing(
            "055550",
            "신한지주",
            "Shinhan Financial Group",
            "KOSPI",
            None,
            ("신한지주", "신한금융지주", "Shinhan Financial"),
        ),
        Listing("012330", "현대모비스", "Hyundai Mobis", "KOSPI", None, ("현대모비스", "Hyundai Mobis")),
        Listing("028260", "삼성물산", "Samsung C&T", "KOSPI", None, ("삼성물산", "Samsung C&T")),
        Listing("006400", "삼성SDI", "Samsung SDI", "KOSPI", None, ("삼성SDI", "Samsung SDI")),
        Listing("066570", "LG전자", "LG Electronics", "KOSPI", None, ("LG전자", "LG Electronics")),
        Listing("003550", "LG", "LG Corp", "KOSPI", None, ("LG", "(주)LG")),
        Listing("017670", "SK텔레콤", "SK Telecom", "KOSPI", None, ("SK텔레콤", "SKT", "SK Telecom")),
        Listing("030200", "KT", "KT Corp", "KOSPI", None, ("KT", "케이티")),
        Listing("032830", "삼성생명", "Samsung Life Insurance", "KOSPI", None, ("삼성생명", "Samsung Life")),
        Listing(
            "086790",
            "하나금융지주",
            "Hana Financial Group",
            "KOSPI",
            None,
            ("하나금융지주", "하나금융", "Hana Financial"),
        ),
        Listing("015760", "한국전력", "KEPCO", "KOSPI", None, ("한국전력", "한전", "KEPCO")),
        Listing("096770", "SK이노베이션", "SK Innovation", "KOSPI", None, ("SK이노베이션", "SK Innovation")),
        Listing("034730", "SK", "SK Inc", "KOSPI", None, ("SK", "SK㈜")),
        Listing("018260", "삼성에스디에스", "Samsung SDS", "KOSPI", None, ("삼성에스디에스", "삼성SDS", "Samsung SDS")),
        Listing("011200", "HMM", "HMM", "KOSPI", None, ("HMM", "에이치엠엠")),
        Listing("086520", "에코프로", "EcoPro", "KOSDAQ", None, ("에코프로", "EcoPro")),
        Listing("091990", "셀트리온헬스케어", "Celltrion Healthcare", "KOSDAQ", None, ("셀트리온헬스케어",)),
        Listing("263750", "펄어비스", "Pearl Abyss", "KOSDAQ", None, ("펄어비스", "Pearl Abyss")),
        Listing("293490", "카카오게임즈", "Kakao Games", "KOSDAQ", None, ("카카오게임즈", "Kakao Games")),
        Listing("196170", "알테오젠", "Alteogen", "KOSDAQ", None, ("알테오젠", "Alteogen")),
        Listing("028300", "HLB", "HLB", "KOSDAQ", None, ("HLB", "에이치엘비")),
    )
}


def lookup(code: str) -> Listing | None:
    return KNOWN_LISTINGS.get(code)


# --- what is tracked: a policy over the KIS stock master (issue 15) ---------------------------------
Policy = Literal["common", "common_preferred", "all"]
POLICY_TYPES: dict[str, frozenset[str]] = {
    "common": frozenset({"common"}),
    "common_preferred": frozenset({"common", "preferred"}),
    "all": frozenset({"common", "preferred", "etf", "etn", "spac", "reit", "other"}),
}


@dataclass
class TrackedUniverse:
    listings: list[Listing]
    unknown_codes: list[str] = field(default_factory=list)  # override codes in neither the master nor KNOWN
    not_listed: list[str] = field(default_factory=list)  # override codes missing from the master


def _as_listing(code: str, name: str, market: Market, former: Sequence[str]) -> Listing:
    known = KNOWN_LISTINGS.get(code)
    aliases = tuple(dict.fromkeys((*(known.aliases if known else (name,)), *former)))
    if known is not None:
        return Listing(code, name, known.name_en, market, known.dart_corp_code, aliases)
    return Listing(code, name, "", market, None, aliases)


def tracked_listings(
    rows: Sequence[MasterRow] | None,
    *,
    policy: Policy = "common",
    override: Sequence[str] = (),
    former_names: Mapping[str, Sequence[str]] | None = None,
) -> TrackedUniverse:
    """The listings to track: ``override`` codes when given (names from the master, else from
    ``KNOWN_LISTINGS``), otherwise every master row whose security type the policy takes.

    Former names become aliases unless another listing of the master holds that name today. ``rows``
    None means no master could be read (only an override of known listings can then be tracked).
    English names come from ``KNOWN_LISTINGS`` only (the master has none).
    """
    former_names = former_names or {}
    rows = list(rows or ())
    current_names = {row.name for row in rows}
    by_code = {row.code: row for row in rows}

    def former(code: str) -> list[str]:
        return [n for n in former_names.get(code, ()) if n not in current_names]

    out = TrackedUniverse(listings=[])
    if override:
        for code in override:
            row = by_code.get(code)
            if row is not None:
                out.listings.append(_as_listing(code, row.name, row.market, former(code)))
                continue
            if rows:
                out.not_listed.append(code)
            known = KNOWN_LISTINGS.get(code)
            if known is None:
                out.unknown_codes.append(code)
            elif not rows:
                out.listings.append(known)
        return out
    types = POLICY_TYPES[policy]
    for row in rows:
        if row.security_type in types and len(row.code) == 6:
            out.listings.append(_as_listing(row.code, row.name, row.market, former(row.code)))
    return out
