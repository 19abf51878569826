"""Delivery status notifications (RFC 3464 `multipart/report; report-type=delivery-status`).

Postfix, Exchange and Gmail all send one; they differ in what they quote of the original
(`message/rfc822` or `text/rfc822-headers`) and in how they word the diagnostic.
"""

from __future__ import annotations

import email.parser
import email.policy
import re
from email.message import Message

from inbox.email.schemas import BounceRecipient, BounceReport

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


def _field(block: Message, name: str) -> str:
    value = block.get(name)
    return " ".join(str(value).split()) if value is not None else ""


def _address(value: str) -> str:
    # "rfc822; pat@example.com" -> "pat@example.com"
    _, _, address = value.rpartition(";")
    return address.strip().strip("<>").lower()


def _blocks(part: Message) -> list[Message]:
    """The field blocks of a message/delivery-status part (the first is per message)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [b for b in payload if isinstance(b, Message)]
    # Some servers send it base64-encoded; the library then leaves it as one string.
    raw = part.get_payload(decode=True)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(payload)
    parser = email.parser.HeaderParser(policy=email.policy.compat32)
    return [parser.parsestr(chunk.strip() + "\n") for chunk in re.split(r"\n\s*\n", text)]


def _recipient(block: Message) -> BounceRecipient | None:
    address = _address(_field(block, "Final-Recipient") or _field(block, "Original-Recipient"))
    if not address:
        return None
    diagnostic = _field(block, "Diagnostic-Code")
    _, sep, rest = diagnostic.partition(";")
    diagnostic = rest.strip() if sep else diagnostic
    status = _field(block, "Status")
    found = _STATUS.search(status) or _STATUS.search(diagnostic)
    return BounceRecipient(
        address=address,
        action=_field(block, "Action").lower() or "failed",
        status=found.group(0) if found else status,
        diagnostic=diagnostic,
    )


def _original_message_id(report: Message) -> str:
    for part in report.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            original = inner[0] if isinstance(inner, list) and inner else None
            if isinstance(original, Message) and original.get("Message-ID"):
                return _first_id(str(original.get("Message-ID")))
        elif kind == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
            headers = email.parser.HeaderParser(policy=email.policy.compat32).parsestr(text)
            if headers.get("Message-ID"):
                return _first_id(str(headers.get("Message-ID")))
    return ""


def _first_id(value: str) -> str:
    found = _MESSAGE_ID.search(value)
    return found.group(0) if found else value.strip()


def parse_dsn(message: Message) -> BounceReport | None:
    """The report a delivery status notification carries, or None when it is not one."""
    if message.get_content_type() != "multipart/report":
        return None
    report_type = message.get_param("report-type")
    if not isinstance(report_type, str) or report_type.lower() != "delivery-status":
        return None
    recipients: list[BounceRecipient] = []
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            for block in _blocks(part)[1:]:
                recipient = _recipient(block)
                if recipient is not None:
                    recipients.append(recipient)
    return BounceReport(
        original_message_id=_original_message_id(message), recipients=tuple(recipients)
    )
