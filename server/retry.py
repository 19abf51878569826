"""Run a write request again when its transaction lost a race on PostgreSQL.

A deadlock or serialization failure rolls the whole transaction back and says nothing about
the request itself: running it again is correct, and what PostgreSQL's documentation asks of
applications. The request's transaction lives in the `session` dependency, whose commit runs
before the response is sent. Litestar turns the error into a response inside the route (its
exception handling sits between the handler and any middleware), so `conflict_handler` answers
such an error with a 503 marked for this middleware, which swallows it and replays the request
from its buffered body on a fresh scope, a few times with jittered backoff. Only when every
attempt lost does the client see the 503 (with Retry-After), never a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils.scope.state import CONNECTION_STATE_KEY, ScopeState

from inbox.core.transactions import backoff, is_retryable
from server.problems import internal_error_handler, problem

log = logging.getLogger(__name__)

ATTEMPTS = 5
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Set by `conflict_handler` on its response; the middleware takes it off (or retries).
RETRY_HEADER = b"x-inbox-transaction-conflict"


def conflict_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A database error: a lost race becomes a retryable 503, anything else a 500 as before."""
    if not is_retryable(exc):
        return internal_error_handler(request, exc)
    response = problem(
        503,
        "Busy, try again",
        "The change collided with another one at the same moment and was not made.",
        "transaction_conflict",
    )
    response.headers["Retry-After"] = "1"
    response.headers[RETRY_HEADER.decode()] = "1"
    return response


class TransactionRetryMiddleware:
    """Replays an unsafe HTTP request whose transaction failed on a deadlock or serialization
    error, before any byte of the response was sent."""

    def __init__(self, app: ASGIApp, max_body: int, attempts: int = ATTEMPTS) -> None:
        self.app = app
        self.max_body = max_body
        self.attempts = attempts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        body, complete = await _read_body(receive, self.max_body)
        if not complete:  # too big to keep: Litestar refuses it, once
            await self.app(scope, _replay(body, receive, more=True), send)
            return
        pristine = _fresh(scope)  # before any attempt parses or caches anything
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            if not await self._attempt(pristine, body, receive, send, last=last) or last:
                return
            log.info("%s %s lost a race, attempt %d", scope["method"], scope["path"], attempt)
            await backoff(attempt)

    async def _attempt(
        self, scope: Scope, body: bytes, receive: Receive, send: Send, *, last: bool
    ) -> bool:
        """Run the request once; True when it lost a race (its answer is dropped unless this
        is the last attempt)."""
        conflict = False

        async def guarded_send(message: Message) -> None:
            nonlocal conflict
            if message["type"] == "http.response.start":
                given = list(message.get("headers", ()))
                headers = [(k, v) for k, v in given if k.lower() != RETRY_HEADER]
                conflict = len(headers) != len(given)
                message = {**message, "headers": headers}
            if not conflict or last:
                await send(message)

        await self.app(_fresh(scope), _replay(body, receive), guarded_send)
        return conflict


def _fresh(scope: Scope) -> Scope:
    """The scope as this middleware got it: Litestar's connection state (what the router set,
    such as the exception handlers) copied as it was, without what the last attempt cached
    (the parsed body, the dependencies, "response started")."""
    state = dict(scope.get("state", {}))
    entry = state.get(CONNECTION_STATE_KEY)
    if isinstance(entry, ScopeState):
        copy = ScopeState()
        for name in ScopeState.__slots__:
            value = getattr(entry, name)
            setattr(copy, name, value.copy() if isinstance(value, dict | list) else value)
        state[CONNECTION_STATE_KEY] = copy
    fresh: Any = {**scope, "state": state}
    return fresh  # type: ignore[no-any-return]


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The request body, and whether it is all there (False: it passed `limit`, the rest is
    still to be received)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > limit:
            return b"".join(chunks), False


def _replay(body: bytes, receive: Receive, *, more: bool = False) -> Receive:
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        # After the body: the rest of it, or the disconnect, as the server would.
        return await receive()

    return replay
