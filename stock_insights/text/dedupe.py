"""One article per story: items that share a canonical URL, or a content hash within
``HASH_WINDOW`` of each other, are one group.

The window keeps recurring headlines apart (a daily "[표] 외국인 순매수 상위 종목" or a closing report
at the same hour each day is a new article each day although its title never changes), while a wire
story re-published by a paper or a portal within hours is still one article. Twelve hours is below
the 24-hour period of such daily headlines and well above the minutes-to-hours of syndication.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from stock_insights.text.items import NewsItem

HASH_WINDOW = timedelta(hours=12)


@dataclass
class ArticleGroup:
    """Items of one story, earliest published first; ``primary`` supplies the article's text."""

    items: list[NewsItem]

    @property
    def primary(self) -> NewsItem:
        return self.items[0]

    @property
    def canonical_url(self) -> str:
        return self.primary.canonical_url

    @property
    def content_hash(self) -> str:
        return self.primary.content_hash

    @property
    def published_at(self) -> datetime:
        return self.primary.published_at

    @property
    def canonical_urls(self) -> set[str]:
        return {item.canonical_url for item in self.items}

    @property
    def content_hashes(self) -> set[str]:
        return {item.content_hash for item in self.items}


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_items(items: Sequence[NewsItem]) -> list[ArticleGroup]:
    """Groups in the order of their first item; items inside a group earliest published first."""
    uf = _UnionFind(len(items))
    first_by_url: dict[str, int] = {}
    by_hash: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        j = first_by_url.setdefault(item.canonical_url, i)
        if j != i:
            uf.union(i, j)
        by_hash[item.content_hash].append(i)
    for members in by_hash.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda k: items[k].published_at)
        for a, b in itertools.pairwise(members):
            if items[b].published_at - items[a].published_at <= HASH_WINDOW:
                uf.union(a, b)
    groups: dict[int, list[NewsItem]] = {}
    for i, item in enumerate(items):
        groups.setdefault(uf.find(i), []).append(item)
    out = []
    for group in groups.values():
        group.sort(key=lambda it: (it.published_at, it.fetched_at))
        out.append(ArticleGroup(group))
    return out


def within_window(a: datetime, b: datetime) -> bool:
    return abs(a - b) <= HASH_WINDOW
