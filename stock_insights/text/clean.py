"""Source text to display text: tags removed, HTML entities unescaped, whitespace collapsed.

Naver wraps query terms in ``<b>`` and escapes quotes as ``&quot;`` (wire-samples/naver_news_search.json);
RSS titles arrive in CDATA with entities inside, and some feeds escape twice (``&amp;quot;``). Two
rounds of tag-stripping and unescaping cover both without touching a literal ``<`` in prose
(only things that look like tags are removed).
"""

from __future__ import annotations

import html
import re

_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]")


def clean_text(raw: str | None) -> str:
    """Display text of a title or snippet; ``""`` when nothing readable is left."""
    if not raw:
        return ""
    text = raw
    for _ in range(2):
        stripped = _TAG.sub("", text)
        unescaped = html.unescape(stripped)
        if unescaped == text:
            break
        text = unescaped
    text = _TAG.sub("", text)
    text = _CONTROL.sub("", text)
    return " ".join(text.split())


def meaningful(text: str) -> bool:
    """A title needs at least one letter or digit: ``""`` left over from ``&quot;&quot;`` is no title."""
    return any(ch.isalnum() for ch in text)


def has_hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)
