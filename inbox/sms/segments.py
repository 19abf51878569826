"""How a text is split for sending: GSM-7 when every character is in the GSM 03.38 tables,
else UCS-2; 160/153 septets or 70/67 UTF-16 units per segment (a long text loses room to the
concatenation header)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

# GSM 03.38 basic table, without the escape code at 0x1B.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each is sent as the escape code then the character, two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

Encoding = Literal["GSM-7", "UCS-2"]
LIMITS: dict[Encoding, tuple[int, int]] = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


class SmsSegmentsRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    body: Annotated[str, msgspec.Meta(max_length=100_000)] = ""


class SmsSegments(msgspec.Struct, kw_only=True):
    encoding: Encoding
    segments: int
    characters: int
    # Septets (GSM-7) or UTF-16 code units (UCS-2): what the limits count.
    units: int
    per_segment: int
    remaining: int  # units left in the last segment before another one starts


def _costs(body: str) -> tuple[Encoding, list[int]]:
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in body):
        return "GSM-7", [2 if c in GSM7_EXTENSION else 1 for c in body]
    # Outside the Basic Multilingual Plane (most emoji) a character is a surrogate pair.
    return "UCS-2", [2 if ord(c) > 0xFFFF else 1 for c in body]


def count_segments(body: str) -> SmsSegments:
    """The encoding and segment count of a text, as carriers will split it. An escape pair or a
    surrogate pair is never split across two segments, so a segment may hold one unit less."""
    encoding, costs = _costs(body)
    single, multi = LIMITS[encoding]
    units = sum(costs)
    if units <= single:
        segments, per_segment, used = (1 if units else 0), single, units
    else:
        segments, used, per_segment = 1, 0, multi
        for cost in costs:
            if used + cost > multi:
                segments, used = segments + 1, 0
            used += cost
    return SmsSegments(
        encoding=encoding,
        segments=segments,
        characters=len(body),
        units=units,
        per_segment=per_segment,
        remaining=per_segment - used,
    )
