"""Pure text processing: canonical URLs, content hashes, dedupe, stock linking, the first-seen rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from stock_insights.text.clean import entity_text, html_text, plain_text
from stock_insights.text.dedupe import group_items
from stock_insights.text.hashing import content_hash
from stock_insights.text.items import NewsItem
from stock_insights.text.linking import LinkTarget, StockLinker
from stock_insights.text.point_in_time import KST, dart_first_seen, news_first_seen
from stock_insights.text.urls import InvalidUrl, canonical_url
from stock_insights.universe import KNOWN_LISTINGS

T0 = datetime(2026, 10, 15, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(("raw", "canonical"), [
    ("https://www.hankyung.com/article/202609220001i?utm_source=naver&utm_medium=search",
     "https://hankyung.com/article/202609220001i"),
    ("  http://WWW.MK.CO.KR:80/news/stock/12027724/  ", "https://mk.co.kr/news/stock/12027724"),
    ("https://n.news.naver.com/mnews/article/020/0003611259?sid=101", "https://n.news.naver.com/mnews/article/020/0003611259"),
    ("https://news.naver.com/main/read.naver?mode=LSD&mid=sec&sid1=101&oid=020&aid=0003611259",
     "https://n.news.naver.com/mnews/article/020/0003611259"),
    ("https://www.newsfreezone.co.kr/news/articleView.html?idxno=605734&fbclid=abc#comments",
     "https://newsfreezone.co.kr/news/articleView.html?idxno=605734"),
    ("https://example.kr/view?sid=7&b=2&a=1", "https://example.kr/view?a=1&b=2&sid=7"),  # sid kept off Naver
    ("https://ex.kr/뉴스/기사", "https://ex.kr/%EB%89%B4%EC%8A%A4/%EA%B8%B0%EC%82%AC"),
])
def test_canonical_urls(raw: str, canonical: str) -> None:
    assert canonical_url(raw) == canonical


@pytest.mark.parametrize("bad", ["", "not a url", "javascript:void(0)", "ftp://x.kr/a", "/relative/path"])
def test_invalid_urls(bad: str) -> None:
    with pytest.raises(InvalidUrl):
        canonical_url(bad)


def test_cleaning_and_hashing() -> None:
    assert html_text("하나카드 &quot;위안화도 <b>무료</b>환전&quot;") == '하나카드 "위안화도 무료환전"'
    # Entities are unescaped exactly once: an escaped tag is text, an escaped entity stays an entity.
    assert html_text("&amp;quot;삼성&amp;quot; &lt;b&gt;HBM&lt;/b&gt; a < b") == '&quot;삼성&quot; <b>HBM</b> a < b'
    assert html_text("<b></b>") == "" and html_text(None) == "" and html_text("<p>a</p><p>b</p>") == "a b"
    assert entity_text("&lt;단독&gt; R&D &amp;amp; <b>") == "<단독> R&D &amp; <b>"
    assert plain_text("is <HyperCLOVA X> &amp;\x00 worth  it") == "is <HyperCLOVA X> &amp; worth it"
    assert content_hash("삼성전자, ‘HBM’ 수주…급등") == content_hash("삼성전자 'HBM' 수주 급등")
    assert content_hash("삼성전자 급등") != content_hash("삼성전자 급락")


def _item(source: str, url: str, title: str, published: datetime) -> NewsItem:
    return NewsItem.build(source=source, url=url, title=title, published_at=published,  # type: ignore[arg-type]
                          fetched_at=published + timedelta(minutes=5))


def test_dedupe_by_url_and_by_text_within_the_window() -> None:
    items = [
        _item("hankyung", "https://www.hankyung.com/article/1i", "삼성전자, 수주에 급등", T0),
        _item("naver", "https://hankyung.com/article/1i?utm_source=naver", "삼성전자, 수주에 급등", T0),
        _item("naver", "https://www.yna.co.kr/view/AKR1", "삼성전자, 수주에 급등", T0 + timedelta(minutes=7)),
        # The same headline a day later is a new article (a recurring title, not a copy).
        _item("naver", "https://www.yna.co.kr/view/AKR2", "삼성전자, 수주에 급등", T0 + timedelta(days=1)),
    ]
    groups = group_items(items)
    assert [len(g.items) for g in groups] == [3, 1]
    assert groups[0].canonical_url == "https://hankyung.com/article/1i"


@pytest.fixture(scope="module")
def linker() -> StockLinker:
    return StockLinker(LinkTarget(x.code, x.name, x.name_en, x.aliases) for x in KNOWN_LISTINGS.values())


@pytest.mark.parametrize(("title", "codes"), [
    ("삼성전자, HBM 수주에 급등", ["005930"]),
    ("SK하이닉스 목표주가 상향", ["000660"]),  # never read as SK
    ("카카오게임즈 신작 흥행", ["293490"]),  # never read as 카카오
    ("LG유플러스 요금제 출시", []),  # another listing, not LG
    ("KT&G 배당 확대", []),  # another company, not KT
    ("삼성전자우 강세", []),  # the preferred share, another code
    ("KT, AI 사업 확대", []),  # short name without corroboration
    ("KT 주가, 수출 호조에 강세", ["030200"]),  # corroborated by market context
    ("아프리카 기아 난민 구호 성금 전달", []),  # 기아 the word, not Kia
    ("기아 3분기 호실적", ["000270"]),
    ("hmm, is anyone else watching the won?", []),
    ("HMM shares jump on freight rates", ["011200"]),
    ("현대차(005380) 신차 출시", ["005380"]),
    ("삼성전자발 훈풍에 코스피 상승", ["005930"]),
])
def test_linking(linker: StockLinker, title: str, codes: list[str]) -> None:
    assert linker.link({"title": title}).codes == codes


def test_link_evidence(linker: StockLinker) -> None:
    result = linker.link({"title": "KT 주가 급락", "summary": "신규 상장 (123456) 종목도 하락"})
    (link,) = result.links
    assert link.evidence["matches"][0] == {"text": "KT", "field": "title", "start": 0, "kind": "name",
                                           "ambiguous": True}
    assert link.evidence["corroboration"] == {"by": "finance_context", "value": "주가", "field": "title"}
    assert result.unknown_codes == ["123456"]  # an unknown code is counted, never linked
    coded = linker.link({"title": "기아 신차 출시", "summary": "기아(000270)는 오늘"})
    assert coded.codes == ["000270"] and coded.links[0].evidence["corroboration"]["by"] == "code"


def test_first_seen_rule() -> None:
    fetched = T0 + timedelta(minutes=10)
    assert news_first_seen("naver", T0, fetched) == (fetched, False)  # live: our sighting
    late = T0 + timedelta(days=3)
    assert news_first_seen("naver", T0, late) == (T0 + timedelta(minutes=15), True)  # backfill: estimate
    day = date(2026, 10, 15)
    same_day = datetime(2026, 10, 15, 18, 0, tzinfo=KST)
    assert dart_first_seen(day, same_day) == (same_day, False)
    assert dart_first_seen(day, same_day + timedelta(days=2)) == (datetime(2026, 10, 16, tzinfo=KST), True)
