from __future__ import annotations

import pytest

from inbox.contacts.phones import parse_phone, try_parse_phone
from inbox.errors import ValidationFailed


@pytest.mark.parametrize(
    "raw", ["(212) 555-0123", "212.555.0123", "+1 212 555 0123", "1-212-555-0123"]
)
def test_common_formats_become_e164(raw: str) -> None:
    assert parse_phone(raw, "US") == "+12125550123"


def test_a_foreign_number_keeps_its_country() -> None:
    assert parse_phone("+44 20 7946 0958", "US") == "+442079460958"


@pytest.mark.parametrize("raw", ["12", "hello", "+1 000 000 0000", ""])
def test_invalid_numbers_are_refused_naming_the_field(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_phone(raw, "US", "phones[0].number")
    assert list(caught.value.fields) == ["phones[0].number"]
    assert try_parse_phone(raw, "US") is None
