from __future__ import annotations

from inbox.email.reply_tokens import (
    make_reply_token,
    read_reply_token,
    reply_address,
    token_in_address,
)

KEY = "k" * 40


def test_a_token_names_its_conversation_and_survives_case_changes() -> None:
    token = make_reply_token(KEY, 1234)
    assert token == token.lower() and len(token) == 29
    assert read_reply_token(KEY, token) == 1234
    assert read_reply_token(KEY, token.upper()) == 1234


def test_forged_or_foreign_tokens_are_refused() -> None:
    token = make_reply_token(KEY, 1234)
    assert read_reply_token("another key" * 4, token) is None
    forged = make_reply_token(KEY, 1235)[:13] + token[13:]
    assert read_reply_token(KEY, forged) is None
    assert read_reply_token(KEY, "not-base32!") is None
    assert read_reply_token(KEY, "") is None


def test_the_token_travels_in_the_plus_address() -> None:
    token = make_reply_token(KEY, 7)
    address = reply_address("replies@oem.example", token)
    assert address == f"replies+{token}@oem.example"
    assert token_in_address("replies@oem.example", address.upper()) == token
    assert token_in_address("replies@oem.example", "replies@oem.example") is None
    assert token_in_address("replies@oem.example", f"other+{token}@oem.example") is None
    assert token_in_address("replies@oem.example", f"replies+{token}@evil.example") is None
