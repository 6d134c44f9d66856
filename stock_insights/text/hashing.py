"""The content hash of a story: same normalised title and body, same hash.

Normalisation: Unicode NFKC (full-width forms, compatibility characters), case folding, and only
letters and digits kept, so punctuation, quotes (‘’ vs ''), spacing and ellipses do not split one
story into two. Summaries and snippets are *not* hashed: Naver's ``description`` is an excerpt cut
around the query term (``... <b>맛집</b>이 밀집돼 ...`` in wire-samples/naver_news_search.json), so the
same article found by two queries carries two different snippets.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_WORD = re.compile(r"[^\W_]+")


def normalise_for_hash(text: str | None) -> str:
    if not text:
        return ""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(_WORD.findall(folded))


def content_hash(title: str, body: str | None = None) -> str:
    """sha256 hex of the normalised title and body."""
    payload = normalise_for_hash(title) + "\x1f" + normalise_for_hash(body)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
