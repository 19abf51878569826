"""Session-cookie authentication and CSRF protection for every route but the public few."""

from __future__ import annotations

import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp

from inbox.accounts.sessions import SignedIn, get_signed_in
from inbox.core.model import utcnow
from server.services import Services

SESSION_COOKIE = "inbox_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Routes anyone may call: signing in, the health probe, the static login page and assets, and
# the provider webhooks (they prove themselves by signature instead).
# The websocket checks the session itself, so it can close with 4401 after accepting.
PUBLIC_PATHS = [
    "^/api/auth/login$",
    "^/health$",
    "^/login$",
    "^/static/",
    "^/schema",
    "^/webhooks/twilio/",
]


def check_origin(connection: ASGIConnection[Any, Any, Any, Any], services: Services) -> None:
    """A browser's cross-site request carries a foreign Origin; refuse it. So does a page
    opened at another address of this server than INBOX_PUBLIC_URL: the refusal says so."""
    origin = connection.headers.get("origin")
    if origin and origin.rstrip("/") != services.settings.web.public_origin:
        raise PermissionDeniedException(
            not_the_public_url(origin, services.settings.web.public_url)
        )


def not_the_public_url(origin: str, public_url: str) -> str:
    return (
        f"This address ({origin[:200]}) is not the configured public URL ({public_url}). "
        f"Open {public_url}, or have the administrator set INBOX_PUBLIC_URL to the address "
        "people use."
    )


async def signed_in_from(
    connection: ASGIConnection[Any, Any, Any, Any], services: Services
) -> SignedIn | None:
    """The live session behind the request's cookie, if any."""
    token = connection.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    async with services.reader() as session:
        return await get_signed_in(session, token, utcnow())


class SessionAuthMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, services: Services) -> None:
        super().__init__(app, exclude=PUBLIC_PATHS, scopes={ScopeType.HTTP, ScopeType.WEBSOCKET})
        self.services = services

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        if not connection.cookies.get(SESSION_COOKIE):
            raise NotAuthorizedException("Sign in first.")
        signed_in = await signed_in_from(connection, self.services)
        if signed_in is None:
            raise NotAuthorizedException("Your session has ended; sign in again.")
        self._check_csrf(connection, signed_in)
        return AuthenticationResult(user=signed_in.actor, auth=signed_in)

    def _check_csrf(
        self, connection: ASGIConnection[Any, Any, Any, Any], signed_in: SignedIn
    ) -> None:
        if connection.scope.get("method", "GET") in SAFE_METHODS:
            return
        check_origin(connection, self.services)
        sent = connection.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), signed_in.csrf_token.encode()):
            raise PermissionDeniedException("Missing or wrong CSRF token; reload the page.")
