"""Source text to display text, by what each source really sends.

* ``plain_text``  text that is already what the author wrote (Reddit with ``raw_json=1``, DART's JSON):
  nothing is unescaped or removed but control characters; whitespace is collapsed.
* ``entity_text`` text carrying HTML entities but no markup (RSS titles: the papers put entities such as
  ``&quot;`` inside the CDATA): entities are unescaped exactly once; a literal ``<`` stays.
* ``html_text``   an HTML fragment (Naver's title and description with ``<b>`` and entities, RSS
  descriptions): read with an HTML parser, so tags go, text in them stays, and entities are unescaped
  exactly once (``&amp;amp;`` is the text ``&amp;``); a ``<`` that starts no tag is text.

No pattern guesses at markup: ``<HyperCLOVA X>`` in a Reddit title is part of the title.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]")
_BODY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]")
# Tags whose boundary separates words when rendered; inline tags (<b>, <a>, <span>) do not.
_BREAKS = frozenset({
    "br", "p", "div", "li", "ul", "ol", "tr", "td", "th", "table", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "section", "article", "header", "footer", "hr", "img", "figure", "figcaption", "pre",
})
_INVISIBLE = frozenset({"script", "style", "template", "noscript"})


def _collapse(text: str) -> str:
    return " ".join(_CONTROL.sub("", text).split())


def plain_text(raw: str | None) -> str:
    """A title as posted: control characters removed, whitespace collapsed, nothing else touched."""
    return _collapse(raw) if raw else ""


def plain_body(raw: str | None) -> str:
    """A body as posted: line breaks kept (``\\r\\n`` becomes ``\\n``), control characters removed, trimmed."""
    if not raw:
        return ""
    return _BODY_CONTROL.sub("", raw.replace("\r\n", "\n").replace("\r", "\n")).strip()


def entity_text(raw: str | None) -> str:
    """Text whose only encoding is HTML entities: unescaped once, then as ``plain_text``."""
    return _collapse(html.unescape(raw)) if raw else ""


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE:
            self._hidden += 1
        elif tag in _BREAKS:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BREAKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BREAKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_text(raw: str | None) -> str:
    """The text of an HTML fragment: tags removed by an HTML parser, entities unescaped once."""
    if not raw:
        return ""
    parser = _TextExtractor()
    parser.feed(raw)
    parser.close()
    return _collapse("".join(parser.parts))


def meaningful(text: str) -> bool:
    """A title needs at least one letter or digit: ``""`` left over from ``&quot;&quot;`` is no title."""
    return any(ch.isalnum() for ch in text)


def has_hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)
