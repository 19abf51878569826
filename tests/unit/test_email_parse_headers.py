"""Header decoding in the parser: RFC 2047, raw 8-bit bytes, and names that hold commas."""

from __future__ import annotations

from channels.email.parse import decode_header_text, parse_message


def _raw(headers: str, body: str = "hi\r\n") -> bytes:
    return (headers.replace("\n", "\r\n") + "\r\n" + body).encode("utf-8")


def test_raw_utf8_and_latin1_header_bytes_are_read_as_text() -> None:
    utf8 = parse_message(_raw("From: José Núñez <jose@example.es>\nSubject: Año ✓\n"))
    assert (utf8.from_name, utf8.from_address, utf8.subject) == (
        "José Núñez",
        "jose@example.es",
        "Año ✓",
    )
    latin1 = parse_message(b"From: J\xfcrgen <j@example.de>\r\nSubject: Gr\xfc\xdfe\r\n\r\nhi\r\n")
    assert (latin1.from_name, latin1.subject) == ("Jürgen", "Grüße")


def test_an_encoded_name_with_a_comma_stays_one_address() -> None:
    parsed = parse_message(
        _raw(
            "From: =?utf-8?q?Doe=2C_John?= <john@example.com>\n"
            'To: "=?utf-8?q?Ren=C3=A9?=" <rene@example.fr>, b@example.org\n'
            "Cc: Team: x@example.net, w@example.net;\n"
            "Subject: =?utf-8?b?w6nDqQ==?= =?utf-8?b?w6nDqQ==?= ok\n"
        )
    )
    assert (parsed.from_name, parsed.from_address) == ("Doe, John", "john@example.com")
    assert parsed.to == ("rene@example.fr", "b@example.org")
    assert parsed.cc == ("x@example.net", "w@example.net")
    assert parsed.subject == "éééé ok"


def test_every_delivered_to_header_counts() -> None:
    parsed = parse_message(
        _raw("From: a@example.com\nDelivered-To: one@oem.test\nDelivered-To: two@oem.test\n")
    )
    assert parsed.delivered_to == ("one@oem.test", "two@oem.test")


def test_an_unknown_charset_in_an_encoded_word_still_gives_text() -> None:
    assert decode_header_text("=?x-bogus?q?abc?=") == "abc"
    assert decode_header_text("plain") == "plain"
