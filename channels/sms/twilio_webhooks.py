"""Twilio's webhooks: checking `X-Twilio-Signature`, and reading the inbound-text and
status-callback forms into plain values."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

from inbox.conversations.models import DeliveryStatus
from inbox.sms.messages import InboundSms, SmsMedia, SmsStatusReport

# What a provider status means here. Queued and sending at the provider are "sent" for us: the
# text has left our queue.
STATUSES = {
    "accepted": DeliveryStatus.SENT,
    "scheduled": DeliveryStatus.SENT,
    "queued": DeliveryStatus.SENT,
    "sending": DeliveryStatus.SENT,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}
# The error codes people meet most, in words a contact manager can act on.
ERRORS = {
    "21610": "the recipient has unsubscribed (texted STOP)",
    "30003": "the phone is unreachable (off or out of coverage)",
    "30004": "the message was blocked by the recipient or their carrier",
    "30005": "the number is unknown or no longer in service",
    "30006": "the number is a landline or its carrier cannot take texts",
    "30007": "the carrier filtered the message as spam",
    "30008": "the carrier reported an unknown error",
}
UNSUBSCRIBED = "21610"
LANDLINE = "30006"


def _signed_string(url: str, params: Iterable[tuple[str, str]]) -> str:
    values: dict[str, set[str]] = {}
    for key, value in params:
        values.setdefault(key, set()).add(value)
    return url + "".join(k + v for k in sorted(values) for v in sorted(values[k]))


def signature_of(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """base64(HMAC-SHA1(token, url + each sorted key followed by its values)), as Twilio signs."""
    mac = hmac.new(auth_token.encode(), _signed_string(url, params).encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def _port_variants(url: str) -> list[str]:
    # Twilio signs with or without the port depending on the product; accept either, as its own
    # RequestValidator does.
    parts = urlsplit(url)
    if parts.port is not None:
        bare, with_port = parts.netloc[: parts.netloc.rfind(":")], parts.netloc
    else:
        default = 443 if parts.scheme == "https" else 80
        bare, with_port = parts.netloc, f"{parts.netloc}:{default}"
    return list(
        dict.fromkeys(
            [
                url,
                urlunsplit(parts._replace(netloc=bare)),
                urlunsplit(parts._replace(netloc=with_port)),
            ]
        )
    )


def is_valid_signature(
    auth_token: str, url: str, params: list[tuple[str, str]], signature: str
) -> bool:
    """Whether `signature` is Twilio's for this public URL (with its query) and form."""
    if not auth_token or not signature:
        return False
    return any(
        hmac.compare_digest(
            signature_of(auth_token, candidate, params).encode(), signature.encode()
        )
        for candidate in _port_variants(url)
    )


def parse_inbound(form: Mapping[str, str]) -> InboundSms:
    """An inbound text (or MMS) from the webhook's form."""
    count = int(form.get("NumMedia") or 0) if (form.get("NumMedia") or "0").isdigit() else 0
    media = tuple(
        SmsMedia(url=form[f"MediaUrl{n}"], content_type=form.get(f"MediaContentType{n}", ""))
        for n in range(min(count, 10))
        if form.get(f"MediaUrl{n}")
    )
    return InboundSms(
        sid=form.get("MessageSid") or form.get("SmsSid") or "",
        from_number=form.get("From", ""),
        to_number=form.get("To", ""),
        body=form.get("Body", ""),
        media=media,
    )


def parse_status(form: Mapping[str, str], key: str = "") -> SmsStatusReport | None:
    """A delivery report from a status callback; None for a status that means nothing to us."""
    status = STATUSES.get((form.get("MessageStatus") or form.get("SmsStatus") or "").lower())
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if status is None or not sid:
        return None
    word = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    code = (form.get("ErrorCode") or "").strip()
    error = word if status is DeliveryStatus.FAILED else ""
    if code:
        what = ERRORS.get(code, form.get("ErrorMessage") or "see the provider's error list")
        error = f"{word}: error {code}, {what}"
    return SmsStatusReport(
        sid=sid,
        status=status,
        error=error,
        key=key,
        to_number=form.get("To", ""),
        recipient_opted_out=code == UNSUBSCRIBED,
        cannot_text=code == LANDLINE,
    )
