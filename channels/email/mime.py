"""Outbound email as MIME, built with the standard library's `email` package (policy SMTP).

The result is multipart/alternative (the plain-text rendering first, the HTML last, as
RFC 2046 orders them by preference), wrapped in multipart/mixed when files are attached. Bcc
never becomes a header: those recipients exist only in the SMTP envelope.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from inbox.core.ports import OutboundAttachment, OutboundEnvelope


def _address(address: str, name: str = "") -> Address:
    local, _, domain = address.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def _split_type(content_type: str) -> tuple[str, str]:
    maintype, _, subtype = content_type.partition("/")
    if not maintype or not subtype or maintype == "multipart":
        return "application", "octet-stream"
    return maintype, subtype.split(";", 1)[0].strip() or "octet-stream"


def build_message(
    envelope: OutboundEnvelope,
    files: Sequence[tuple[OutboundAttachment, bytes]] = (),
    *,
    date: datetime,
) -> EmailMessage:
    """The message to hand to SMTP. Raises ValueError for headers that cannot be written."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = _address(envelope.from_address, envelope.from_name)
    message["To"] = [_address(a) for a in envelope.to]
    if envelope.cc:
        message["Cc"] = [_address(a) for a in envelope.cc]
    if envelope.reply_to:
        message["Reply-To"] = _address(envelope.reply_to)
    message["Subject"] = envelope.subject
    message["Date"] = format_datetime(date)
    for name in ("Message-ID", "In-Reply-To", "References"):
        if envelope.headers.get(name):
            message[name] = envelope.headers[name]
    # Quoted-printable keeps every line 7-bit, so no server needs 8BITMIME to carry it.
    message.set_content(envelope.body_text or " ", cte="quoted-printable")
    if envelope.body_html:
        message.add_alternative(envelope.body_html, subtype="html", cte="quoted-printable")
    for meta, data in files:
        maintype, subtype = _split_type(meta.content_type)
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=meta.filename)
    return message
