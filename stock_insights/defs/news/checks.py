"""Quality checks every news asset reports after it writes (over the shared news tables).

* ``no_duplicate_canonical_url`` (error): no canonical URL names two articles, neither as an
  article's URL nor as a source's.
* ``no_future_dated_items`` (error): no article published after now, or after we first saw it
  (beyond the clock tolerance of ``text.items.FUTURE_TOLERANCE``).
* ``linked_share`` (warning): the share of this source's articles of the last 7 days linked to at
  least one tracked stock is at least ``LINKED_SHARE_MIN[source]``. The floors catch a broken linker
  or an alias table out of step with the universe; they are not targets. Naver is searched by stock
  name, yet a search for 카카오 also returns 카카오게임즈 and 카카오뱅크 (other listings), so about 80 % links
  in the sandbox. Papers' feeds and Reddit cover the whole market: their share is roughly the tracked
  part of it (~11 % with 4 of the sandbox's 34 listings, ~23 % with the default 8).
"""


from datetime import timedelta

import dagster as dg
from sqlalchemy.orm import Session

from stock_insights.corpus.store import duplicate_canonical_urls, future_dated_news, linked_share
from stock_insights.storage.db import utcnow

LINKED_SHARE_MIN: dict[str, float] = {"naver": 0.6, "hankyung": 0.05, "maeil": 0.05, "reddit": 0.05}
LINKED_SHARE_WINDOW = timedelta(days=7)
CHECK_NAMES = ("no_duplicate_canonical_url", "no_future_dated_items", "linked_share")


def news_check_specs(source: str) -> list[dg.AssetCheckSpec]:
    key = ["news", source]
    return [
        dg.AssetCheckSpec("no_duplicate_canonical_url", asset=key,
                          description="No canonical URL belongs to two articles (as article or source URL)."),
        dg.AssetCheckSpec("no_future_dated_items", asset=key,
                          description="No article is published after now or after we first saw it."),
        dg.AssetCheckSpec("linked_share", asset=key,
                          description=f"At least {LINKED_SHARE_MIN[source]:.0%} of this source's articles of the "
                          "last 7 days are linked to a tracked stock."),
    ]


def news_check_results(session: Session, source: str) -> list[dg.AssetCheckResult]:
    duplicates = duplicate_canonical_urls(session)
    future = future_dated_news(session)
    linked, total = linked_share(session, source, utcnow() - LINKED_SHARE_WINDOW)
    share = linked / total if total else 1.0
    return [
        dg.AssetCheckResult(check_name="no_duplicate_canonical_url", passed=duplicates == 0,
                            metadata={"duplicates": duplicates}),
        dg.AssetCheckResult(check_name="no_future_dated_items", passed=future == 0,
                            metadata={"future_dated": future}),
        dg.AssetCheckResult(
            check_name="linked_share",
            passed=total == 0 or share >= LINKED_SHARE_MIN[source],
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"linked": linked, "articles": total, "share": round(share, 4),
                      "threshold": LINKED_SHARE_MIN[source]},
        ),
    ]
