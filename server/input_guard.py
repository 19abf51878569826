"""Input no route can store or search, refused at the boundary as a 400 that names the field.

Every value that comes in (the JSON body, each query and path parameter, a multipart message
part) passes the same checks before a handler runs, so nothing is written:

- text with a NUL character (PostgreSQL cannot store one; SQLite's full-text search chokes on it);
- a JSON integer outside 64 bits (no column or SQL parameter holds it);
- a timestamp with an offset whose instant is not a year 1 to 9999 date in UTC
  (`9999-12-31T23:59:59-14:00`), which no datetime can hold once converted to UTC;
- JSON nested deeper than `MAX_JSON_DEPTH` (no body of this API nests more than three levels).

Integer query and path parameters are typed with their bounds (`server/api/params.py`), so the
schema documents them; a path integer outside 64 bits is refused here as well, for any route.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request

from inbox.errors import ValidationFailed

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_JSON_DEPTH = 32
# An RFC 3339 timestamp with an offset, the only kind whose UTC instant can fall off the calendar.
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
    r"([Zz]|[+-][0-9]{2}:?[0-9]{2})"
)
_TIMESTAMP_MAX_LEN = 40


def _shown(name: str) -> str:
    return name.replace("\x00", "\\u0000") or "body"


def check_text(value: str, field: str) -> None:
    """Refuse a NUL character, and a timestamp whose instant is not a date in UTC."""
    if "\x00" in value:
        raise ValidationFailed.field(_shown(field), "must not contain the NUL character (\\u0000)")
    if len(value) <= _TIMESTAMP_MAX_LEN and _TIMESTAMP.fullmatch(value):
        try:
            instant = msgspec.convert(value, datetime)
        except msgspec.ValidationError:
            return  # not a timestamp after all: the field's own type decides
        try:
            instant.astimezone(UTC)
        except OverflowError:
            raise ValidationFailed.field(
                _shown(field), "must be a time between the years 1 and 9999 in UTC"
            ) from None


def check_int(value: int, field: str) -> None:
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValidationFailed.field(_shown(field), f"must fit in 64 bits (at most {INT64_MAX})")


def check_json(value: Any, root: str = "") -> None:
    """Walk a decoded JSON value (iteratively: depth is what is being checked). Field names
    read like msgspec's, `criteria.created_from`, `phones[0].number`; too deep names the
    top-level field it is in."""
    stack: list[tuple[Any, str, str, int]] = [(value, root, root, 0)]
    while stack:
        item, path, top, depth = stack.pop()
        if isinstance(item, str):
            check_text(item, path)
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            check_int(item, path)
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise ValidationFailed.field(
                    _shown(top), f"nests deeper than {MAX_JSON_DEPTH} levels"
                )
            if isinstance(item, list):
                stack.extend((v, f"{path}[{i}]", top, depth + 1) for i, v in enumerate(item))
                continue
            for key, v in item.items():
                name = f"{path}.{key}" if path else str(key)
                check_text(str(key), name)
                stack.append((v, name, top or name, depth + 1))


_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def too_deep(raw: bytes | str) -> ValidationFailed:
    """The 400 for JSON too deep for the decoder itself, naming the top-level field the deep
    part is in. Only ever run on that error path: it scans the text in Python."""
    data = raw.encode() if isinstance(raw, str) else raw
    depth, last_string, field = 0, b"", ""
    for token in _JSON_TOKEN.finditer(data):
        text = token.group()
        if text.startswith(b'"'):
            if depth == 1:
                last_string = text
        elif text in (b"[", b"{"):
            if depth == 1 and last_string:
                try:
                    field = str(msgspec.json.decode(last_string))
                except msgspec.DecodeError:
                    field = ""
            depth += 1
            if depth > MAX_JSON_DEPTH:
                break
        else:
            depth -= 1
    return ValidationFailed.field(_shown(field), f"nests deeper than {MAX_JSON_DEPTH} levels")


def decode_checked(raw: bytes | str, field: str = "") -> Any:
    """JSON text decoded and checked; too deep for the decoder is the same 400 as too deep."""
    try:
        value = msgspec.json.decode(raw)
    except RecursionError:
        if field:
            raise ValidationFailed.field(
                field, f"nests deeper than {MAX_JSON_DEPTH} levels"
            ) from None
        raise too_deep(raw) from None
    check_json(value, field)
    return value


class CheckedRequest(Request[Any, Any, Any]):
    """A request whose JSON body passes `check_json` before any handler sees it."""

    __slots__ = ("_json_checked",)

    async def json(self) -> Any:
        try:
            value = await super().json()
        except RecursionError:
            raise too_deep(await self.body()) from None
        if not getattr(self, "_json_checked", False):
            check_json(value)
            self._json_checked = True
        return value


async def check_parameters(request: Request[Any, Any, Any]) -> None:
    """Before every handler: each query value and path parameter passes the same checks."""
    for name, value in request.path_params.items():
        if isinstance(value, str):
            check_text(value, name)
        elif isinstance(value, int) and not isinstance(value, bool):
            check_int(value, name)
    for name, value in request.query_params.multi_items():
        check_text(name, name)
        check_text(value, name)
