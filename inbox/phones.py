"""Phone numbers: parsed to E.164 with `phonenumbers`, refused with a clear error when invalid."""

from __future__ import annotations

import phonenumbers

from inbox.errors import ValidationFailed


def parse_phone(raw: str, region: str, field: str = "phone") -> str:
    """The E.164 form of a number typed in any common format, or a ValidationFailed naming `field`."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise ValidationFailed.field(field, f"{raw!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed.field(field, f"{raw!r} is not a valid phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def try_parse_phone(raw: str, region: str) -> str | None:
    """E.164 if `raw` reads as a valid number, else None (for search boxes)."""
    try:
        return parse_phone(raw, region)
    except ValidationFailed:
        return None
