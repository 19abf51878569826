"""Transactions that lost a race: which errors mean "run it again", and a runner that does.

PostgreSQL aborts one of two transactions that wait on each other (deadlock, SQLSTATE 40P01)
and, above READ COMMITTED, one that cannot be serialized (40001). Neither says anything about
the work itself, so the work is run again from the start in a new transaction. SQLite's writers
queue on one lock (BEGIN IMMEDIATE with a busy timeout) and never get these.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.core.ports import EventPublisher
from inbox.events.log import take_pending

log = logging.getLogger(__name__)

RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 5
T = TypeVar("T")


def is_retryable(exc: BaseException) -> bool:
    """Whether `exc` (or what it was raised from) is a deadlock or serialization failure."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError):
            orig = current.orig
            if getattr(orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
                return True
            if getattr(orig, "pgcode", None) in RETRYABLE_SQLSTATES:
                return True
        current = current.__cause__ or current.__context__
    return False


async def backoff(attempt: int) -> None:
    """Sleep a little longer after each lost race, with jitter so the racers spread out."""
    await asyncio.sleep(random.uniform(0.005, 0.02) * 2**attempt)  # noqa: S311


async def run_in_transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[T]],
    publisher: EventPublisher | None = None,
    *,
    attempts: int = ATTEMPTS,
) -> T:
    """Run `work` in a new session and commit, then publish the events it recorded; on a
    deadlock or serialization failure, roll back and run it again (up to `attempts` times)."""
    for attempt in range(1, attempts + 1):
        async with sessionmaker() as session:
            try:
                result = await work(session)
                await session.commit()
            except Exception as exc:
                await session.rollback()
                if not is_retryable(exc) or attempt == attempts:
                    raise
                log.info("transaction lost a race (%s); attempt %d", exc, attempt)
            else:
                events = take_pending(session)
                if publisher is not None and events:
                    await publisher.publish(events)
                return result
        await backoff(attempt)
    raise AssertionError("unreachable")
