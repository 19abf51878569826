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


_TYPE_NAMES = {
    value: name.lower()
    for name, value in vars(phonenumbers.PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}


def line_type(e164: str) -> str:
    """The number's type as `phonenumbers` reads it: mobile, fixed_line, fixed_line_or_mobile,
    toll_free, voip, ... (unknown when it cannot tell)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "unknown"
    return _TYPE_NAMES.get(phonenumbers.number_type(number), "unknown")


def can_text_by_type(e164: str, *, labelled_mobile: bool) -> bool:
    """Whether a number can take texts, judged by its type alone. Some plans (the whole North
    American one) do not tell mobiles from landlines; there the label the number was filed
    under decides, until a lookup says otherwise."""
    kind = line_type(e164)
    if kind == "mobile":
        return True
    return kind == "fixed_line_or_mobile" and labelled_mobile
