"""Stock linking over the whole simulated market: precision and recall on the newsroom's labelled set."""

from __future__ import annotations

from datetime import date

import pytest

from stock_insights.sandbox.listings import collisions, listings_by_code
from stock_insights.sandbox.newsroom import labelled_articles, market_targets
from stock_insights.text.linking import LinkTarget, StockLinker

DAYS = (date(2026, 3, 2), date(2026, 12, 4))


@pytest.fixture(scope="module")
def linkers() -> dict[date, StockLinker]:
    return {day: StockLinker(LinkTarget(c, n, None, a) for c, n, a in market_targets(day)) for day in DAYS}


@pytest.mark.parametrize("day", DAYS)
def test_precision_and_recall_over_the_whole_market(linkers: dict[date, StockLinker], day: date) -> None:
    articles = labelled_articles(day, 1500)
    assert len(market_targets(day)) > 2300
    tp = fp = fn = 0
    for article in articles:
        got = set(linkers[day].link({"title": article.title, "body": article.body}).codes)
        want = set(article.codes)
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
    assert tp > 1500  # the set is not trivially small
    assert sum(1 for a in articles if a.traps) > 300
    assert tp / (tp + fp) >= 0.98
    assert tp / (tp + fn) >= 0.95


def test_collisions_link_to_the_listing_of_the_day(linkers: dict[date, StockLinker]) -> None:
    by_code = listings_by_code()
    renamed, taker = collisions()["renamed_then_reused"]
    old_name = by_code[renamed].name
    late = linkers[date(2026, 12, 4)]
    # December: the former name belongs to the October listing; the renamed company goes by its new name.
    assert late.link({"title": f"{old_name} 신규 수주"}).codes == [taker]
    assert late.link({"title": f"{by_code[renamed].name_on(date(2026, 12, 4))}, 실적 개선"}).codes == [renamed]
    daesang = collisions()["common_word"][0]
    assert late.link({"title": "정부 지원 대상 기업 12곳 선정", "body": "관련 종목 주가도 관심"}).codes == []
    assert late.link({"title": "대상 주가 급등"}).codes == [daesang]
    base = next(x for x in by_code.values() if x.security_type == "preferred").code[:5] + "0"
    assert late.link({"title": f"{by_code[base].name_on(date(2026, 12, 4))}2우B 급등"}).codes == []
