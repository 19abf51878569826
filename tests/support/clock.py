"""The one fake of the `Clock` port: a time that only the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    """`now()` is `at` until the test moves it (assign `at`, or `advance`)."""

    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime.now(UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> datetime:
        self.at += delta
        return self.at
