"""Cutting quoted history and signatures out of plain-text replies, for display.

The whole body is always kept beside the cut; when in doubt nothing is cut. Markers are those
that Gmail, Outlook (desktop, web, mobile), Apple Mail, Thunderbird and the phone mail apps
write, in English, German, French and Spanish.
"""

from __future__ import annotations

import re

_WROTE = r"(?:wrote|schrieb|a\s+écrit|escribió|ha\s+escrito)"
# "On <date>, <who> wrote:" and its translations, possibly wrapped over up to three lines.
_ATTRIBUTION = re.compile(
    rf"^(?:On|Le|El)\s.{{4,400}}?{_WROTE}\s*:$|^Am\s.{{4,200}}?\sschrieb\s.{{1,300}}:$",
    re.IGNORECASE | re.DOTALL,
)
# "Dana Whitfield <dana@oem.test> wrote:" on a line of its own (Outlook for Mac, some webmail).
_NAMED_ATTRIBUTION = re.compile(rf"^.{{1,200}}<[^>\s]+@[^>\s]+>\s{_WROTE}\s*:$", re.IGNORECASE)
_ORIGINAL = re.compile(
    r"^-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Originalnachricht|"
    r"Message d'origine|Mensaje original)\s*-{2,}$",
    re.IGNORECASE,
)
# Outlook's header block: "From: ..." then "Sent:"/"Date:" (and translations) within a few lines.
_FROM = re.compile(r"^\*?(?:From|Von|De|Expéditeur)\s?:\*?\s", re.IGNORECASE)
_SENT = re.compile(
    r"^\*?(?:Sent|Date|Gesendet|Datum|Envoyé|Date|Enviado|Fecha)\s?:\*?\s", re.IGNORECASE
)
_SEPARATOR = re.compile(r"^_{8,}$")
_SIGNATURE = re.compile(r"^--\s?$")
_MOBILE = re.compile(
    r"^(?:Sent from my \w[\w ]{0,30}|Sent from (?:Mail|Outlook) for \w+|Get Outlook for \w+|"
    r"Sent from Yahoo Mail.*|Sent from Samsung .*|Sent with Proton Mail.*|"
    r"Von meinem \w[\w ]{0,30} gesendet|Gesendet von meinem \w[\w ]{0,30}|"
    r"Envoyé de mon \w[\w ]{0,30}|Envoyé depuis mon \w[\w ]{0,30}|"
    r"Enviado desde mi \w[\w ]{0,30})\.?(?:\s*<https?://[^>]*>)?$",
    re.IGNORECASE,
)


def _attribution_at(lines: list[str], i: int) -> bool:
    first = lines[i].strip()
    if _NAMED_ATTRIBUTION.match(first):
        return True
    if not re.match(r"(?:On|Le|El|Am)\s", first, re.IGNORECASE):
        return False
    # Clients wrap a long attribution; it still starts with "On"/"Am"/"Le"/"El" on this line.
    for span in (1, 2, 3):
        following = [line.strip() for line in lines[i : i + span]]
        if any(not line or line.startswith(">") for line in following):
            break
        if _ATTRIBUTION.match(" ".join(following)):
            return True
    return False


def _outlook_header_at(lines: list[str], i: int) -> bool:
    if not _FROM.match(lines[i].strip()):
        return False
    following = [line.strip() for line in lines[i + 1 : i + 5]]
    return any(_SENT.match(line) for line in following)


def _quote_start(lines: list[str]) -> int | None:
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        if _ORIGINAL.match(line) or _attribution_at(lines, i) or _outlook_header_at(lines, i):
            return i
        if _SEPARATOR.match(line) and i + 1 < len(lines) and _outlook_header_at(lines, i + 1):
            return i
    return None


def _trailing_quote_start(lines: list[str]) -> int:
    """Where a final block of `>` lines (and blank lines) begins; len(lines) when none."""
    start = len(lines)
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i].strip()
        if line.startswith(">") or not line:
            start = i
        else:
            break
    return start


def _signature_start(lines: list[str]) -> int | None:
    for i, raw in enumerate(lines):
        if _SIGNATURE.match(raw.rstrip("\r")):
            return i
        # A phone's footer counts only at the end, not when quoted in the middle of a sentence.
        if _MOBILE.match(raw.strip()) and all(not rest.strip() for rest in lines[i + 1 :]):
            return i
    return None


def strip_quoted(text: str) -> str:
    """The new part of a reply: the text before the quoted history, without the signature.
    Falls back to the whole text when cutting would leave nothing."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = _quote_start(lines)
    if cut is not None:
        lines = lines[:cut]
    lines = lines[: _trailing_quote_start(lines)]
    signature = _signature_start(lines)
    if signature is not None:
        lines = lines[:signature]
    result = "\n".join(line.rstrip() for line in lines).strip()
    return result or text.strip()
