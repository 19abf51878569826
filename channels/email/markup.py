"""Email HTML: sanitized with nh3, remote images held back, quoted history cut, rendered as text."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import nh3

_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height", "data-src"},
    "*": {"dir", "lang"},
}
_SCHEMES = {"http", "https", "mailto", "cid"}

# Markers that start the quoted history (or the signature) in the HTML that mail clients write.
_HTML_CUTS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r'<div[^>]*class="[^"]*\bgmail_quote\b',  # Gmail, web and mobile
        r'<div[^>]*class="[^"]*\bgmail_signature\b',
        r'<blockquote[^>]*type="cite"',  # Apple Mail, iOS, Thunderbird
        r'<div[^>]*class="[^"]*\bmoz-cite-prefix\b',  # Thunderbird's "On ... wrote:"
        r'<div[^>]*class="[^"]*\bmoz-signature\b',
        r'<div[^>]*id="divRplyFwdMsg"',  # Outlook on the web
        r'<div[^>]*id="appendonsend"',
        r'<div[^>]*id="mail-editor-reference-message-container"',  # new Outlook
        r'<hr[^>]*tabindex="-1"',  # Outlook on the web's separator line
        r"<div[^>]*border-top:\s*solid\s+#(?:E1E1E1|B5C4DF)",  # Outlook desktop's reply header
        r'<span[^>]*id="OLK_SRC_BODY_SECTION"',  # Outlook for Mac
        r'<div[^>]*class="[^"]*\bOutlookMessageHeader\b',
        r'<div[^>]*id="(?:AppleMailSignature|ms-outlook-mobile-signature)"',
        r'<div[^>]*class="[^"]*\byahoo_quoted\b',
        r"(?:<br\s*/?>|<div[^>]*>|<p[^>]*>)\s*--\s*(?:&nbsp;|\s)?<br",  # "-- " signature line
    )
]
# An attribution left just before the cut ("On Mon, ... wrote:"), in the languages we read.
_TRAILING_ATTRIBUTION = re.compile(
    r"(?:<(?:div|p)[^>]*>|<br\s*/?>)?\s*(?:(?:On|Le|El)\s[^<]{4,400}?"
    r"(?:wrote|a\s+écrit|escribió)|Am\s[^<]{4,200}?\sschrieb\s[^<]{1,300}?)\s*:"
    r"\s*(?:<br\s*/?>\s*|</(?:div|p)>\s*)*$",
    re.IGNORECASE,
)
_REMOTE_IMG = re.compile(r'(<img\b[^>]*?\s)src="(https?://[^"]*)"', re.IGNORECASE)


def sanitize(markup: str) -> str:
    """Safe HTML to store and show: no scripts, styles, handlers or forms; remote images keep
    their address in `data-src` (the reader opts in), `cid:` images stay for the store to link."""
    clean = nh3.clean(
        markup,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return _REMOTE_IMG.sub(r'\1data-src="\2"', clean).strip()


# One scan for all of them: the leftmost match of the alternation is the earliest marker.
_ANY_CUT = re.compile("|".join(f"(?:{p.pattern})" for p in _HTML_CUTS), re.IGNORECASE)


def cut_quoted_html(markup: str) -> str:
    """The HTML before the first quoted-history or signature marker (unclosed tags are left to
    the sanitizer to close)."""
    found = _ANY_CUT.search(markup)
    if found is None:
        return markup
    head = markup[: found.start()]
    return _TRAILING_ATTRIBUTION.sub("", head)


_BLOCKS = {
    "p",
    "div",
    "br",
    "li",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "table",
    "ul",
    "ol",
    "hr",
    "pre",
}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.quote = 0

    def _break(self, count: int = 1) -> None:
        """End the current line (and leave `count - 1` blank lines), never more than asked."""
        text = "".join(self.out[-3:])
        have = len(text) - len(text.rstrip("\n")) if self.out else count
        if count > have:
            self.out.append("\n" * (count - have))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skip += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag == "blockquote":
            self._break()
            self.quote += 1
        elif tag == "li":
            self._break()
            self.out.append("- ")
        elif tag in _BLOCKS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self._break()
        elif tag in ("p", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6"):
            self._break(2)
        elif tag in _BLOCKS:
            self._break()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        text = re.sub(r"[ \t\r\n\f]+", " ", data.replace("\xa0", " "))
        if self.quote and (not self.out or self.out[-1].endswith("\n")):
            text = "> " * self.quote + text.lstrip()
        self.out.append(text)


_TAG = re.compile(r"<[^>]*>")


def has_visible_text(sanitized: str) -> bool:
    """Whether `html_to_text` of this sanitized HTML would say anything, without rendering it:
    the sanitizer has already dropped scripts, styles and comments and escaped any `<` in text,
    so what is left outside the tags is the text (list items are the one thing the rendering
    adds, a "- ")."""
    if html.unescape(_TAG.sub("", sanitized)).replace("\xa0", " ").strip():
        return True
    return "<li" in sanitized and bool(html_to_text(sanitized))


def html_to_text(markup: str) -> str:
    """A readable plain-text rendering: paragraphs and line breaks kept, quotes as `> `."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
