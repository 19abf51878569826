"""Rich text that people compose: sanitized HTML, and its plain-text rendering.

The composer offers bold, italic, underline, strikethrough, bulleted and numbered lists and
links; anything else (scripts, event handlers, styles, images, `javascript:` links) is removed
before the HTML is stored or sent. The plain-text rendering is what a careful person would
type: paragraphs, "- " and "1. " list items, "text (url)" links, *bold*, /italic/, _underline_
(the conventions Thunderbird uses), not tag-stripped soup.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser

import nh3

COMPOSE_TAGS = frozenset(
    {"p", "br", "b", "strong", "i", "em", "u", "s", "strike", "del", "ul", "ol", "li", "a"}
)
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
MAX_HTML_CHARS = 200_000

_SPACE = re.compile(r"\s+")
_MARKS = {"b": "*", "strong": "*", "i": "/", "em": "/", "u": "_"}


def sanitize_html(value: str) -> str:
    """Keep only the composer's formatting; links keep `href` with a safe scheme."""
    return nh3.clean(
        value,
        tags=set(COMPOSE_TAGS),
        attributes={"a": {"href"}},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    ).strip()


def text_to_html(text: str) -> str:
    """Plain text as safe HTML paragraphs."""
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


@dataclass
class _List:
    ordered: bool
    count: int = 0


class _Renderer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.lists: list[_List] = []
        self.links: list[tuple[str, int]] = []
        self.want_breaks = 0  # newlines owed before the next text (2 = a new paragraph)
        self.marker = ""  # a list item's "- " or "1. ", written with its first text
        self.indent = ""  # continuation indent inside a list item

    def _at_line_start(self) -> bool:
        return not self.out or self.out[-1].endswith("\n")

    def _emit(self, text: str) -> None:
        if self.out and self.want_breaks:
            while self.out and self.out[-1].endswith(" "):
                self.out[-1] = self.out[-1].rstrip(" ")
            have = len(re.search(r"\n*$", "".join(self.out[-3:])).group())  # type: ignore[union-attr]
            self.out.append("\n" * max(0, self.want_breaks - have))
        self.want_breaks = 0
        if self.marker:
            self.out.append(self.marker)
            self.marker = ""
        elif self._at_line_start() and self.indent:
            self.out.append(self.indent)
        self.out.append(text)

    def _block(self, breaks: int) -> None:
        self.want_breaks = max(self.want_breaks, breaks)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "p":
            self._block(1 if self.lists else 2)
        elif tag == "br":
            self.out.append("\n")
        elif tag in ("ul", "ol"):
            self._block(1 if self.lists else 2)
            self.lists.append(_List(ordered=tag == "ol"))
        elif tag == "li" and self.lists:
            current = self.lists[-1]
            current.count += 1
            depth = "  " * (len(self.lists) - 1)
            self.marker = depth + (f"{current.count}. " if current.ordered else "- ")
            self.indent = " " * len(self.marker)
            self._block(1)
        elif tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.out)))
        elif tag in _MARKS:
            self._emit(_MARKS[tag])

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._block(1 if self.lists else 2)
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
            self.indent = "  " * len(self.lists) if self.lists else ""
            self._block(1 if self.lists else 2)
        elif tag == "li":
            self._block(1)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            label = "".join(self.out[start:]).strip()
            if href and href not in (label, f"mailto:{label}", f"tel:{label}"):
                self._emit(f" ({href})" if label else href)
        elif tag in _MARKS:
            self.out.append(_MARKS[tag])

    def handle_data(self, data: str) -> None:
        text = _SPACE.sub(" ", data)
        if self._at_line_start() or self.want_breaks or self.marker:
            text = text.lstrip(" ")
        if text:
            self._emit(text)

    def text(self) -> str:
        lines = [line.rstrip() for line in "".join(self.out).split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def html_to_text(value: str) -> str:
    """The plain-text rendering of (sanitized) HTML."""
    renderer = _Renderer()
    renderer.feed(value)
    renderer.close()
    return renderer.text()
