"""Sign in, sign out, and who am I."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.accounts.models import Role
from inbox.accounts.sessions import SignedIn, do_login, do_logout
from inbox.core.access import Actor
from inbox.core.model import utcnow
from inbox.events.log import current_seq
from server.auth import SESSION_COOKIE, check_origin
from server.problems import answers, problem
from server.services import Services


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: Annotated[str, msgspec.Meta(min_length=1, max_length=320)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class MeRead(msgspec.Struct, kw_only=True):
    id: int
    email: str
    name: str
    role: Role
    csrf_token: str
    # The newest event sequence: a fresh tab says hello with it, then loads its state, so it
    # neither misses what happens meanwhile nor replays the whole log.
    last_seq: int = 0


def _me(signed_in: SignedIn, last_seq: int = 0) -> MeRead:
    a = signed_in.actor
    return MeRead(
        id=a.id,
        email=a.email,
        name=a.name,
        role=a.role,
        csrf_token=signed_in.csrf_token,
        last_seq=last_seq,
    )


class AddressRead(msgspec.Struct, kw_only=True):
    public_url: str


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/login", status_code=200, opt=answers(401, 429))
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[LoginRequest],
        session: NamedDependency[AsyncSession],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        """Sign in with email and password; sets the session cookie."""
        check_origin(request, services)
        client = request.client.host if request.client else "unknown"
        signed_in = await do_login(session, data.email, data.password, client, utcnow())
        if signed_in is None:
            # Returned, not raised, so the transaction commits the recorded failure.
            return problem(401, "Not signed in", "Wrong email or password.", "unauthenticated")
        cookie = Cookie(
            key=SESSION_COOKIE,
            value=signed_in.token,
            httponly=True,
            samesite="lax",
            secure=services.settings.web.secure_cookies,
            path="/",
            max_age=int((signed_in.expires_at - utcnow()).total_seconds()),
        )
        return Response(_me(signed_in), cookies=[cookie])

    @post("/logout", status_code=204)
    async def logout(
        self, request: Request[Actor, SignedIn, Any], services: NamedDependency[Services]
    ) -> Response[None]:
        """End this session and clear the cookie; the session's open sockets close (4401)."""
        async with services.transaction() as session:
            ended = await do_logout(session, request.auth.token)
        if ended is not None:  # after the commit: a socket reopened now finds no session
            await services.hub.end_sessions(ended.account_id, ended.session_ids)
        return Response(
            None,
            status_code=204,
            cookies=[Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/")],
        )

    @get("/address", exclude_from_auth=True, include_in_schema=False)
    async def address(self, services: NamedDependency[Services]) -> AddressRead:
        """Where the app is meant to be opened (INBOX_PUBLIC_URL): the login page compares it
        with its own address, since a sign-in from any other would be refused."""
        return AddressRead(public_url=services.settings.web.public_url)

    @get("/me")
    async def me(
        self, request: Request[Actor, SignedIn, Any], session: NamedDependency[AsyncSession]
    ) -> MeRead:
        """The signed-in account, the CSRF token to send on changes, and the last event seq."""
        return _me(request.auth, await current_seq(session, request.auth.actor.id))
