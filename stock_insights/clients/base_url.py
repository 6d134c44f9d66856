"""Base URLs as users write them: with or without a trailing slash, with or without the path segment
the client adds itself (OpenDART's ``/api``, Naver's ``/v1``, KIS's ``/uapi``), and OpenAI-style bases
with their version segment given once, twice or not at all.

``service_root`` gives the host part a client appends its documented paths to; ``versioned_base`` gives
the base an OpenAI SDK appends ``/chat/completions`` or ``/embeddings`` to.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def _has_host(url: str) -> bool:
    return bool(urlsplit(url).netloc)


def service_root(url: str, *suffixes: str) -> str:
    """``url`` without surrounding whitespace, trailing slashes, and any trailing ``suffixes`` path
    (each a path such as ``"api"`` or ``"v1/search"``; case-insensitive, removed as often as repeated)."""
    root = url.strip().rstrip("/")
    ends = sorted({"/" + s.strip("/") for s in suffixes if s.strip("/")}, key=len, reverse=True)
    changed = True
    while changed:
        changed = False
        for end in ends:
            if root.lower().endswith(end.lower()) and _has_host(root[: -len(end)]):
                root = root[: -len(end)].rstrip("/")
                changed = True
                break
    return root


def leading_dirs(path: str) -> list[str]:
    """The directory prefixes of an endpoint path, longest first: ``/v1/search/news.json`` gives
    ``["v1/search", "v1"]``: what a base URL may already end in."""
    segments = [s for s in path.split("/") if s][:-1]
    return ["/".join(segments[:n]) for n in range(len(segments), 0, -1)]


def versioned_base(url: str, version_path: str) -> str:
    """An OpenAI-compatible base URL ending in ``version_path`` (``/v1``, or OpenRouter's ``/api/v1``)
    exactly once: trailing slashes go, a repeated version segment is given once, a base that stops
    before the version path (``https://api.openai.com``, ``https://openrouter.ai/api``) is completed.
    Any other path (a proxy's own prefix) is kept as written."""
    base = url.strip().rstrip("/")
    if not base:
        return base
    version = "/" + version_path.strip("/")
    last = "/" + version.rsplit("/", 1)[-1]  # "/v1"
    while base.lower().endswith(version.lower() + last.lower()) or base.lower().endswith(last.lower() * 2):
        base = base[: -len(last)]
    path = urlsplit(base).path.rstrip("/")
    if path.lower().endswith(version.lower()):
        return base
    if version.lower().startswith(path.lower() + "/") or not path:
        return base.rstrip("/") + version[len(path):]
    return base
