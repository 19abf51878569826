"""Integer path and query parameters with their bounds, so the schema documents them and a value
that no column holds (`2**64`) is a 400 naming the parameter, never a database error."""

from __future__ import annotations

from typing import Annotated, Any

from litestar.params import Parameter

from server.input_guard import INT64_MAX


def _at_least(low: int) -> Any:
    # `schema_extra` keeps the bounds integers in the schema (Litestar writes them as floats,
    # and 2**63 - 1 as a float is 2**63).
    return Parameter(ge=low, le=INT64_MAX, schema_extra={"minimum": low, "maximum": INT64_MAX})


# A row id: 1 up to the largest 64-bit integer.
Id = Annotated[int, _at_least(1)]
OptionalId = Annotated[int | None, _at_least(1)]
# A count of rows to skip, or an event sequence number to read after.
Offset = Annotated[int, _at_least(0)]
