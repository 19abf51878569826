"""Raw MIME bytes -> a frozen `InboundMessage`.

Reading never raises: a message that cannot be read comes back with the raw bytes, whatever of
its From and Message-ID could be recovered, and `parse_error`, so one bad message cannot stop
the watcher and nothing is dropped.

The MIME structure is read with the `compat32` policy, which keeps header values as the raw
strings they are, and only the headers used here are decoded (RFC 2047, 8-bit bytes) by hand:
`policy.default` builds a header object (a full RFC 5322 parse) on every access, which made
most of the ingest's parsing time.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message

from channels.email.dsn import parse_dsn
from channels.email.markup import cut_quoted_html, has_visible_text, html_to_text, sanitize
from channels.email.quotes import strip_quoted
from inbox.conversations.models import Channel
from inbox.email.schemas import InboundAttachment, InboundMessage

_POLICY = email.policy.compat32
_IDS = re.compile(r"<[^<>\s]+>")
_CHARSET_ALIASES = {
    "iso-2022-jp-ms": "iso2022_jp_ext",
    "cp50220": "iso2022_jp_2",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "windows-874": "cp874",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
}
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto[- ]?reply|auto[- ]?response|automatische antwort|"
    r"out of (?:the )?office|abwesenheit|abwesend|réponse automatique|absence du bureau|"
    r"absent(?:e)? du bureau|respuesta automática|fuera de la oficina|ausente|"
    r"ausencia|autorespuesta)",
    re.IGNORECASE,
)
_FORWARDED = re.compile(
    r"(?:-{5,}\s*Forwarded message|Begin forwarded message|-{3,}\s*Weitergeleitete Nachricht|"
    r"Message transféré|Mensaje reenviado)",
    re.IGNORECASE,
)
_MAX_FUTURE = timedelta(hours=1)
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text in the charset a part declares, tolerating the lies real mailers tell: latin-1
    that is really windows-1252, "us-ascii" that is UTF-8, unknown names."""
    declared = (charset or "").strip().strip('"').lower()
    if declared in ("", "us-ascii", "ascii", "unknown-8bit", "x-unknown", "default"):
        candidates = ["utf-8", "cp1252"]
    elif declared in ("iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1"):
        candidates = ["cp1252"]
    else:
        candidates = [_CHARSET_ALIASES.get(declared, declared), "utf-8", "cp1252"]
    for candidate in candidates:
        try:
            return data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1")


def _unflow(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed: lines ending in a space continue on the next one."""
    out: list[str] = []
    buffer = ""
    for line in text.split("\n"):
        if line.startswith(" "):
            line = line[1:]  # space-stuffing
        if line.endswith(" ") and line.rstrip() != "--":
            buffer += line[:-1] if delsp else line
        else:
            out.append(buffer + line)
            buffer = ""
    if buffer:
        out.append(buffer)
    return "\n".join(out)


def _text_of(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return str(part.get_payload())
    text = decode_bytes(data, part.get_content_charset())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if part.get_content_type() == "text/plain" and _param(part, "format") == "flowed":
        text = _unflow(text, _param(part, "delsp") == "yes")
    return text


def _param(part: Message, name: str) -> str:
    value = part.get_param(name)
    return value.lower() if isinstance(value, str) else ""


@dataclass
class _Parts:
    text: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[InboundAttachment] = field(default_factory=list)


def _collect(part: Message, parts: _Parts) -> None:
    kind = part.get_content_type()
    if part.is_multipart() and kind != "message/rfc822":
        for sub in part.get_payload():
            if isinstance(sub, Message):
                _collect(sub, parts)
        return
    if kind in ("message/delivery-status", "text/rfc822-headers"):
        return
    found_name = part.get_filename()
    filename = " ".join(decode_header_text(found_name).split()) if found_name else ""
    is_attachment = part.get_content_disposition() == "attachment" or bool(filename)
    if kind in ("text/plain", "text/html") and not is_attachment:
        (parts.text if kind == "text/plain" else parts.html).append(_text_of(part))
        return
    if kind == "message/rfc822":
        inner = part.get_payload()
        original = inner[0] if isinstance(inner, list) and inner else None
        data = original.as_bytes() if isinstance(original, Message) else b""
    else:
        raw = part.get_payload(decode=True)
        data = raw if isinstance(raw, bytes) else b""
    content_id = str(part.get("Content-ID") or "").strip().strip("<>")
    parts.attachments.append(
        InboundAttachment(
            filename=filename or ("forwarded.eml" if kind == "message/rfc822" else "attachment"),
            content_type=kind,
            data=data,
            content_id=content_id,
        )
    )


class _Headers:
    """The top-level header values of a message, looked up by lower-cased name, as raw strings
    (folded, encoded words and 8-bit bytes still in them); read once per message."""

    def __init__(self, message: Message) -> None:
        self._values: dict[str, list[str]] = {}
        for key, value in message.raw_items():
            self._values.setdefault(key.lower(), []).append(
                value if isinstance(value, str) else str(value)
            )

    def all(self, name: str) -> list[str]:
        return self._values.get(name.lower(), [])

    def text(self, name: str) -> str:
        """The first value, decoded, with its whitespace collapsed."""
        values = self.all(name)
        return " ".join(decode_header_text(values[0]).split()) if values else ""

    def raw(self, name: str) -> str:
        """The first value as written (for ids and dates, which are never encoded)."""
        values = self.all(name)
        return " ".join(_unescape(values[0]).split()) if values else ""


def _unescape(value: str) -> str:
    # The parser keeps 8-bit header bytes as surrogate escapes; they are nearly always UTF-8.
    if _ESCAPED_BYTE.search(value):
        return decode_bytes(value.encode("ascii", "surrogateescape"), None)
    return value


def decode_header_text(value: str) -> str:
    """A header value as text: 8-bit bytes read as UTF-8 (or windows-1252) and RFC 2047
    encoded words decoded in their charset; whatever cannot be decoded stays as written."""
    value = _unescape(value)
    if "=?" not in value:
        return value
    try:
        chunks = email.header.decode_header(value)
    except Exception:
        return value
    return "".join(
        decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk
        for chunk, charset in chunks
    )


def _addresses(headers: _Headers, name: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs; entries without an address are dropped.
    Addresses are split before display names are decoded: a decoded name may hold commas."""
    values = [" ".join(_unescape(v).split()) for v in headers.all(name)]
    found = email.utils.getaddresses(values)
    return [
        (" ".join(decode_header_text(n).split()).strip(), a.strip().lower())
        for n, a in found
        if "@" in a
    ]


def _ids(value: str) -> list[str]:
    found = _IDS.findall(value)
    if not found and value.strip() and " " not in value.strip():
        return [f"<{value.strip().strip('<>')}>"]
    return list(found)


_STABLE_HEADERS = re.compile(
    rb"^(?:From|To|Cc|Subject|Date):[^\n]*(?:\r?\n[ \t][^\n]*)*", re.IGNORECASE | re.MULTILINE
)


def synthetic_message_id(raw: bytes) -> str:
    """A stable id for mail that has none, so a re-scan or a redelivery still recognises it.
    Built from what the sender wrote, not the trace headers each delivery adds."""
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    digest = hashlib.sha256()
    for header in sorted(_STABLE_HEADERS.findall(head)):
        digest.update(header + b"\n")
    digest.update(body)
    return f"<{digest.hexdigest()[:40]}@no-message-id.invalid>"


def _date(headers: _Headers, now: datetime) -> datetime:
    try:
        parsed = email.utils.parsedate_to_datetime(headers.raw("Date"))
    except (TypeError, ValueError, IndexError):
        return now
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    # A sender's clock may be wrong; never file mail in the future.
    return min(parsed.astimezone(UTC), now + _MAX_FUTURE) if parsed.year > 1990 else now


def _is_automatic(headers: _Headers, subject: str, sender: str) -> bool:
    if (
        sender.split("@")[0] in ("mailer-daemon", "postmaster")
        or headers.raw("Return-Path") == "<>"
    ):
        return True  # a mail system's notice, whatever its format
    auto_submitted = headers.raw("Auto-Submitted").lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if any(headers.raw(h) for h in ("X-Autoreply", "X-Autorespond", "X-Autoresponder")):
        return True
    if headers.raw("Precedence").lower() in ("auto_reply", "bulk", "junk"):
        return True
    return bool(_AUTO_SUBJECT.match(subject))


def _bodies(parts: _Parts) -> dict[str, str]:
    full_html = "\n".join(parts.html)
    text_full = "\n".join(parts.text).strip()
    display_html = full_html
    if full_html and not _FORWARDED.search(full_html):
        display_html = cut_quoted_html(full_html)
    body_html_full = sanitize(full_html) if full_html else ""
    if display_html == full_html:
        body_html = body_html_full
    else:
        body_html = sanitize(display_html) if display_html else ""
    if not has_visible_text(body_html):
        body_html = body_html_full
    if not text_full and body_html_full:
        text_full = html_to_text(body_html_full)
        display_text = html_to_text(body_html)
    else:
        display_text = text_full
    forwarded = bool(_FORWARDED.search(text_full))
    return {
        "body_text": display_text.strip() if forwarded else strip_quoted(display_text),
        "body_text_full": text_full,
        "body_html": body_html,
        "body_html_full": body_html_full,
    }


def _parse(raw: bytes, now: datetime) -> InboundMessage:
    message = email.message_from_bytes(raw, policy=_POLICY)
    headers = _Headers(message)
    senders = _addresses(headers, "From") or _addresses(headers, "Sender")
    from_name, from_address = senders[0] if senders else ("", "")
    subject = headers.text("Subject")
    bounce = parse_dsn(message)
    parts = _Parts()
    _collect(message, parts)
    message_ids = _ids(headers.raw("Message-ID"))
    defects = [type(d).__name__ for d in message.defects]
    errors = [f"malformed: {', '.join(sorted(set(defects)))}"] if defects else []
    if not from_address:
        errors.append("no sender address")
    return InboundMessage(
        channel=Channel.EMAIL,
        from_address=from_address,
        from_name=from_name,
        subject=subject,
        **_bodies(parts),
        to=tuple(a for _, a in _addresses(headers, "To")),
        cc=tuple(a for _, a in _addresses(headers, "Cc")),
        delivered_to=tuple(a for _, a in _addresses(headers, "Delivered-To")),
        x_original_to=tuple(a for _, a in _addresses(headers, "X-Original-To")),
        message_id_header=message_ids[0] if message_ids else synthetic_message_id(raw),
        in_reply_to=" ".join(_ids(headers.raw("In-Reply-To"))[:1]),
        references=" ".join(_ids(headers.raw("References"))),
        is_automatic=bounce is not None or _is_automatic(headers, subject, from_address),
        received_at=_date(headers, now),
        attachments=tuple(parts.attachments),
        bounce=bounce,
        parse_error="; ".join(errors),
        raw=raw,
    )


_RAW_FROM = re.compile(rb"^From:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_RAW_ID = re.compile(rb"^Message-ID:[ \t]*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)


def _unreadable(raw: bytes, now: datetime, exc: Exception) -> InboundMessage:
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    found_from = _RAW_FROM.search(head)
    name, address = email.utils.parseaddr(
        found_from.group(1).decode("latin-1") if found_from else ""
    )
    found_id = _RAW_ID.search(head)
    return InboundMessage(
        channel=Channel.EMAIL,
        from_address=address.lower() if "@" in address else "",
        from_name=name,
        subject="(a message that could not be read)",
        message_id_header=found_id.group(1).decode("latin-1")
        if found_id
        else synthetic_message_id(raw),
        received_at=now,
        raw=raw,
        parse_error=f"unreadable: {type(exc).__name__}: {exc}",
    )


def parse_message(raw: bytes, *, now: datetime | None = None) -> InboundMessage:
    """Read one message as it came from the mail server. Never raises."""
    now = now or datetime.now(UTC)
    try:
        return _parse(raw, now)
    except Exception as exc:
        return _unreadable(raw, now, exc)
