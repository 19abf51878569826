"""SMS without a database: segment counts, consent keywords, Twilio's signature and forms,
number types and the SMS settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from channels.sms.twilio_webhooks import (
    is_valid_signature,
    parse_inbound,
    parse_status,
    signature_of,
)
from inbox.contacts.phones import can_text_by_type, line_type
from inbox.conversations.models import DeliveryStatus
from inbox.sms.consent import keyword_of
from inbox.sms.segments import GSM7_BASIC, GSM7_EXTENSION, count_segments
from server.settings import DEFAULT_HELP_REPLY, SettingsError, load_settings


def test_the_gsm7_tables_have_the_right_sizes() -> None:
    assert len(GSM7_BASIC) == 127  # 128 codes, less the escape
    assert frozenset("\f^{}\\[~]|€") == GSM7_EXTENSION
    assert not GSM7_BASIC & GSM7_EXTENSION


@pytest.mark.parametrize(
    ("body", "encoding", "segments", "units"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 1, 160),
        ("a" * 161, "GSM-7", 2, 161),
        ("a" * 306, "GSM-7", 2, 306),
        ("a" * 307, "GSM-7", 3, 307),
        ("é£¥@Ø\nΔ_ΞÆßÉ¡Ä§¿äà", "GSM-7", 1, 18),
        ("€" * 80, "GSM-7", 1, 160),  # an extension character counts twice
        ("€" * 81, "GSM-7", 2, 162),
        ("[" + "a" * 159, "GSM-7", 2, 161),
        # 152 septets then an escape pair: the pair may not be split, so it opens segment 2.
        ("a" * 152 + "^" + "a" * 8, "GSM-7", 2, 162),
        ("ç", "UCS-2", 1, 1),  # only the capital Ç is in the GSM table
        ("a" * 70 + "é" + "ç", "UCS-2", 2, 72),
        ("ü" * 69 + "ç", "UCS-2", 1, 70),
        ("👍" * 35, "UCS-2", 1, 70),  # each emoji is a surrogate pair
        ("👍" * 36, "UCS-2", 2, 72),
        ("a" * 66 + "👍" + "a" * 3, "UCS-2", 2, 71),  # the pair does not fit in 67: moves on
    ],
)
def test_segments(body: str, encoding: str, segments: int, units: int) -> None:
    counted = count_segments(body)
    assert (counted.encoding, counted.segments, counted.units) == (encoding, segments, units)
    assert counted.characters == len(body)


def test_remaining_counts_down_within_the_last_segment() -> None:
    assert count_segments("a" * 150).remaining == 10
    assert count_segments("a" * 161).remaining == 153 - 8
    assert count_segments("😀").remaining == 68


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STOP", "stop"),
        (" stop\n", "stop"),
        ("StopAll", "stop"),
        ("UNSUBSCRIBE", "stop"),
        ("cancel", "stop"),
        ("End", "stop"),
        ("QUIT", "stop"),
        ("revoke", "stop"),
        ("OPTOUT", "stop"),
        ("opt out", "stop"),
        ("Opt  Out", "stop"),
        ("START", "start"),
        ("unstop", "start"),
        ("yes", "start"),
        ("HELP", "help"),
        (" help ", "help"),
        ("STOP!", "stop"),
        ("Stop.", "stop"),
        ("please stop", None),
        ("stopp", None),
        ("info", None),
        ("", None),
    ],
)
def test_keywords(body: str, keyword: str | None) -> None:
    assert keyword_of(body) == keyword


def test_our_signature_is_twilios() -> None:
    token = "12345"
    params = {"From": "+12125550123", "Body": "Hi ü & =", "NumMedia": "0", "To": "+15005550006"}
    for url in (
        "https://inbox.example/webhooks/twilio/sms",
        "https://inbox.example/webhooks/twilio/status?key=sms-1",
        "http://127.0.0.1:8000/webhooks/twilio/sms",
    ):
        theirs = RequestValidator(token).compute_signature(url, params)
        assert signature_of(token, url, params.items()) == theirs
        assert is_valid_signature(token, url, list(params.items()), theirs)
        assert not is_valid_signature(token, url + "x", list(params.items()), theirs)
        assert not is_valid_signature("other", url, list(params.items()), theirs)
        assert not is_valid_signature(token, url, [*params.items(), ("Extra", "1")], theirs)
        assert not is_valid_signature(token, url, list(params.items()), "")
    # Twilio signs with or without the port; both must pass.
    signed_without = RequestValidator(token).compute_signature("https://inbox.example/x", params)
    assert is_valid_signature(
        token, "https://inbox.example:443/x", list(params.items()), signed_without
    )
    signed_with = RequestValidator(token).compute_signature("https://inbox.example:443/x", params)
    assert is_valid_signature(token, "https://inbox.example/x", list(params.items()), signed_with)


def test_inbound_and_status_forms() -> None:
    sms = parse_inbound(
        {
            "MessageSid": "MM1",
            "From": "+12125550123",
            "To": "+15005550006",
            "Body": "Look",
            "NumMedia": "2",
            "MediaUrl0": "https://api.twilio.com/m0",
            "MediaContentType0": "image/png",
            "MediaUrl1": "https://api.twilio.com/m1",
            "MediaContentType1": "image/gif",
        }
    )
    assert (sms.sid, sms.from_number, sms.body) == ("MM1", "+12125550123", "Look")
    assert [(m.url, m.content_type) for m in sms.media] == [
        ("https://api.twilio.com/m0", "image/png"),
        ("https://api.twilio.com/m1", "image/gif"),
    ]
    assert parse_inbound({"MessageSid": "SM1", "NumMedia": "lots"}).media == ()

    expected = {
        "queued": DeliveryStatus.SENT,
        "sent": DeliveryStatus.SENT,
        "delivered": DeliveryStatus.DELIVERED,
        "undelivered": DeliveryStatus.FAILED,
        "failed": DeliveryStatus.FAILED,
    }
    for word, status in expected.items():
        report = parse_status({"MessageSid": "SM1", "MessageStatus": word})
        assert report is not None and report.status is status
    assert parse_status({"MessageSid": "SM1", "MessageStatus": "receiving"}) is None
    failed = parse_status({"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "21610"})
    assert failed is not None and failed.recipient_opted_out and not failed.cannot_text
    assert failed.error == "failed: error 21610, the recipient has unsubscribed (texted STOP)"
    odd = parse_status(
        {
            "MessageSid": "SM1",
            "MessageStatus": "undelivered",
            "ErrorCode": "30410",
            "ErrorMessage": "Provider Timeout",
        }
    )
    assert odd is not None and odd.error == "undelivered: error 30410, Provider Timeout"


def test_number_types() -> None:
    assert line_type("+447911123456") == "mobile"
    assert line_type("+442079460000") == "fixed_line"
    assert line_type("+12125550123") == "fixed_line_or_mobile"
    assert line_type("+18005550199") == "toll_free"
    assert can_text_by_type("+447911123456", labelled_mobile=False)
    assert not can_text_by_type("+442079460000", labelled_mobile=True)
    # North America cannot tell: the label decides.
    assert can_text_by_type("+12125550123", labelled_mobile=True)
    assert not can_text_by_type("+12125550123", labelled_mobile=False)


def test_sms_settings(tmp_path: Path) -> None:
    base = {"INBOX_DATA_DIR": str(tmp_path)}
    default = load_settings(base)
    assert (default.sms.provider, default.sms.help_reply) == ("sandbox", DEFAULT_HELP_REPLY)
    twilio = {
        **base,
        "INBOX_SMS_PROVIDER": "twilio",
        "INBOX_TWILIO_ACCOUNT_SID": "AC123",
        "INBOX_TWILIO_AUTH_TOKEN": "secret",
        "INBOX_TWILIO_FROM": "MG123",
        "INBOX_TWILIO_BASE_URL": "http://127.0.0.1:9000/",
        "INBOX_SMS_HELP_REPLY": "",
    }
    loaded = load_settings(twilio)
    assert loaded.twilio is not None
    assert (loaded.twilio.base_url, loaded.sms.help_reply) == ("http://127.0.0.1:9000", "")
    for name, value in (
        ("INBOX_SMS_PROVIDER", "pigeon"),
        ("INBOX_TWILIO_ACCOUNT_SID", "123"),
        ("INBOX_TWILIO_AUTH_TOKEN", ""),
        ("INBOX_TWILIO_FROM", "555-0123"),
        ("INBOX_TWILIO_BASE_URL", "ftp://x"),
    ):
        with pytest.raises(SettingsError, match=f"^{name}:"):
            load_settings({**twilio, name: value})
