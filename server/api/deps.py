"""Dependencies every handler shares: the transaction and the acting account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.access import Actor
from server.services import Services


def services_of(state: State) -> Services:
    services: Services = state.services
    return services


async def provide_session(
    state: State, request: Request[Any, Any, Any]
) -> AsyncIterator[AsyncSession]:
    """A GET only reads (HTTP says it is safe): it gets a read-only transaction, which never
    waits for the write lock; everything else gets one that commits and publishes."""
    services = services_of(state)
    if request.method in ("GET", "HEAD"):
        async with services.reader() as session:
            yield session
        return
    async with services.transaction() as session:
        yield session


def provide_actor(request: Request[Actor, Any, Any]) -> Actor:
    return request.user


def provide_services(state: State) -> Services:
    return services_of(state)
