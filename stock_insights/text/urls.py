"""Canonical article URLs: one spelling per article, so that the same story from Naver, a feed and a
Reddit link post meets under one key.

What is removed, and why:
- scheme and host case, a leading ``www.``, default ports and the fragment: they never select a
  different document. ``http`` becomes ``https`` (every publisher we read serves both).
- tracking parameters: ``utm_*`` and the click ids of ad networks and mailers (``fbclid``, ``gclid``,
  ``dclid``, ``gbraid``, ``wbraid``, ``msclkid``, ``yclid``, ``igshid``, ``mc_cid``, ``mc_eid``,
  ``_ga``, ``_gl``, ``ref_src``). They say how a reader arrived, not which article it is.
- Naver News: ``sid`` (section tab) is dropped. Evidence: the article is named by the office id and
  article id in the path (``n.news.naver.com/mnews/article/020/0003611259?sid=101`` in
  wire-samples/naver_news_search.json; sources.md section 3.3 shows another ``.../658/0000060841?sid=101``):
  the same oid/aid is the same article whatever section it is listed under. The older forms
  (``news.naver.com/main/read.naver?oid=..&aid=..``, ``m.news.naver.com/read.nhn?...``,
  ``n.news.naver.com/article/<oid>/<aid>``) are rewritten to the ``mnews/article`` form. ``sid`` is
  *not* dropped on other hosts, where a parameter of that name may well be the article id.
- a trailing slash on a non-root path, and the order of the remaining query parameters.
Percent-encoding is normalised (decoded, then re-encoded), so a Korean path written raw or encoded
is one URL.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "ref_src",
    }
)
TRACKING_PREFIXES = ("utm_",)
NAVER_NEWS_HOSTS = frozenset({"n.news.naver.com", "news.naver.com", "m.news.naver.com"})
_NAVER_PATH = re.compile(r"^/(?:mnews/)?article/(\d{3})/(\d{10})(?:/|$)")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


class InvalidUrl(ValueError):
    """Not an absolute http(s) URL."""


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def _naver_article(host: str, path: str, query: list[tuple[str, str]]) -> str | None:
    if host not in NAVER_NEWS_HOSTS:
        return None
    match = _NAVER_PATH.match(path)
    if match:
        oid, aid = match.groups()
    else:
        params = dict(query)
        oid, aid = params.get("oid", ""), params.get("aid", "")
        if not (re.fullmatch(r"\d{3}", oid) and re.fullmatch(r"\d{10}", aid)):
            return None
    return f"https://n.news.naver.com/mnews/article/{oid}/{aid}"


def canonical_url(url: str) -> str:
    """The canonical form of an absolute http(s) URL; raises ``InvalidUrl`` otherwise."""
    text = (url or "").strip()
    if not text:
        raise InvalidUrl("empty URL")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidUrl(f"unparseable URL {text[:80]!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise InvalidUrl(f"not an absolute http(s) URL: {text[:80]!r}")
    host = parts.hostname.lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    path = quote(unquote(parts.path), safe=_PATH_SAFE) or "/"

    naver = _naver_article(host, path, query)
    if naver is not None:
        return naver

    if len(path) > 1:
        path = path.rstrip("/") or "/"
    kept = sorted((k, v) for k, v in query if not _is_tracking(k))
    return urlunsplit(("https", netloc, path, urlencode(kept, quote_via=quote), ""))


def naver_article_id(url: str) -> str | None:
    """``<oid>/<aid>`` of a Naver-hosted article URL, else None."""
    if "news.naver.com" not in url.lower():
        return None
    try:
        canonical = canonical_url(url)
    except InvalidUrl:
        return None
    prefix = "https://n.news.naver.com/mnews/article/"
    return canonical[len(prefix) :] if canonical.startswith(prefix) else None
