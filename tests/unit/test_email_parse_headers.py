"""Header decoding in the parser (RFC 2047, raw 8-bit bytes, names that hold commas) and the
shortcuts its HTML handling takes."""

from __future__ import annotations

import pytest

from channels.email.markup import cut_quoted_html, has_visible_text, html_to_text, sanitize
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


@pytest.mark.parametrize(
    "markup",
    [
        "",
        "<div><br></div>",
        "<p>&nbsp;</p><div> \n </div>",
        "<p>Hi</p>",
        "<div>&lt;not a tag&gt;</div>",
        '<a href="https://example.com">x</a>',
        "<img src=x>",
        "<ul><li></li></ul>&#160;",
    ],
)
def test_visible_text_agrees_with_the_text_rendering(markup: str) -> None:
    clean = sanitize(markup)
    assert has_visible_text(clean) == bool(html_to_text(clean))


def test_the_earliest_quote_marker_cuts_whichever_client_wrote_it() -> None:
    html = (
        '<p>Thanks!</p><div class="gmail_signature">Pat</div>'
        '<blockquote type="cite">old</blockquote><div class="gmail_quote">older</div>'
    )
    assert cut_quoted_html(html) == "<p>Thanks!</p>"
    assert cut_quoted_html("<p>No quote</p>") == "<p>No quote</p>"
