"""The app factory: `create_app(settings)` wires routes, auth, errors and the workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from litestar import Litestar, MediaType, Request, Response, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.response import File, Redirect
from litestar.static_files import create_static_files_router
from sqlalchemy.exc import DBAPIError

from inbox.accounts.sessions import get_signed_in
from inbox.core.db import migrate, schema_is_current
from inbox.core.model import utcnow
from server.api import api_router
from server.api.deps import provide_actor, provide_services, provide_session
from server.auth import PUBLIC_PATHS, SESSION_COOKIE, SessionAuthMiddleware
from server.background import run_background
from server.input_guard import CheckedRequest, check_parameters
from server.problems import EXCEPTION_HANDLERS, ProblemResponses
from server.realtime.socket import ASGI_SEND, event_stream
from server.retry import TransactionRetryMiddleware, conflict_handler
from server.services import Services, build_services
from server.settings import Settings
from server.webhooks import TwilioWebhookController

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 25 * 1024 * 1024
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
# Remote images (https only) are allowed by policy but never requested until the reader asks:
# the server and the page both hold remote sources back in data-src until "load images".
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: https:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}


class SchemaOutOfDate(RuntimeError):
    pass


async def ensure_schema(services: Services) -> None:
    """Migrate the embedded default; anywhere else refuse to run on an old schema."""
    settings = services.settings
    if settings.database.auto_migrate:
        await asyncio.to_thread(migrate, settings.database.url)
        return
    current, revision, head = await schema_is_current(services.engine)
    if not current:
        raise SchemaOutOfDate(
            f"The database schema is at {revision or 'nothing'} but this code needs {head}: "
            "run `inbox migrate` first."
        )


def _lifespan(services: Services) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await ensure_schema(services)
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(services.hub.run(), name="realtime-hub")]
            if services.settings.workers.in_app:
                # The same list `inbox worker` runs (server/background.py).
                tasks.append(group.create_task(run_background(services), name="background"))
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
        await services.engine.dispose()

    return lifespan


@get("/health", include_in_schema=False, exclude_from_auth=True)
async def health(state: State) -> Response[dict[str, Any]]:
    """Reachability of the database (and Redis when configured), and what the configuration
    leaves out (`warnings`: e.g. no email provider in production; they do not fail the check)."""
    services: Services = state.services
    report = {"database": "ok", "redis": "not configured"}
    try:
        async with services.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        report["database"] = f"unreachable: {type(exc).__name__}"
    if services.settings.redis.url:
        report["redis"] = await _redis_status(services.settings.redis.url)
    ok = all(v in ("ok", "not configured") for v in report.values())
    body: dict[str, Any] = {"status": "ok" if ok else "degraded", **report}
    if services.settings.warnings:
        body["warnings"] = services.settings.warnings
    return Response(body, status_code=200 if ok else 503)


async def _redis_status(url: str) -> str:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=2)
    try:
        await client.ping()
        return "ok"
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}"
    finally:
        await client.aclose()


@get("/", include_in_schema=False, exclude_from_auth=True)
async def app_shell(request: Request[Any, Any, Any], state: State) -> Any:
    """The inbox app for a signed-in user; everyone else goes to the login page."""
    services: Services = state.services
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        async with services.sessionmaker() as session:
            if await get_signed_in(session, token, utcnow()):
                return _page("index.html")
    return Redirect("/login")


@get("/login", include_in_schema=False)
async def login_page() -> File:
    return _page("login.html")


def _page(name: str) -> File:
    return File(
        WEB_DIR / name,
        filename=name,
        media_type=MediaType.HTML,
        content_disposition_type="inline",
        headers={"Cache-Control": "no-cache"},
    )


def _security_headers(response: Response[Any]) -> Response[Any]:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


_SECURITY_HEADER_PAIRS = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


def _with_security_headers(send: Any) -> Any:
    """Every HTTP response gets the security headers, the ones Litestar makes of an error
    (404, 405, 500) and the auth middleware's 401/403 included, which skip `after_request`."""

    async def send_with_headers(message: Any) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers") or [])
            present = {bytes(k).lower() for k, _ in headers}
            missing = [(k, v) for k, v in _SECURITY_HEADER_PAIRS if k not in present]
            if missing:
                message = {**message, "headers": headers + missing}
        await send(message)

    return send_with_headers


class InboxApp(Litestar):
    """Litestar, keeping the server's own ASGI `send` of each websocket in its scope.

    Litestar hands a handler `send` behind two wrappers of its own (a state check and the
    exception middleware's response tracking), which cost about a tenth of a fan-out's CPU at
    10,000 sockets. The hub writes live frames to caught-up sockets through the server's send
    directly (`server/realtime/socket.py`); everything else still goes through Litestar."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            scope[ASGI_SEND] = send
        elif scope["type"] == "http":
            send = _with_security_headers(send)
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, services: Services | None = None) -> Litestar:
    """Build the app. Nothing is configured at import time; everything comes from `settings`."""
    services = services or build_services(settings)
    return InboxApp(
        route_handlers=[
            api_router(),
            health,
            app_shell,
            login_page,
            event_stream,
            TwilioWebhookController,
            create_static_files_router(
                path="/static", directories=[WEB_DIR], include_in_schema=False
            ),
        ],
        state=State({"services": services, "hub": services.hub}),
        dependencies={
            "session": Provide(provide_session),
            "actor": Provide(provide_actor, sync_to_thread=False),
            "services": Provide(provide_services, sync_to_thread=False),
        },
        middleware=[
            DefineMiddleware(SessionAuthMiddleware, services=services),
            DefineMiddleware(TransactionRetryMiddleware, max_body=MAX_BODY_BYTES),
        ],
        exception_handlers={**EXCEPTION_HANDLERS, DBAPIError: conflict_handler},
        after_request=_security_headers,
        # Odd input (NUL, 65-bit integers, deep JSON, dates off the calendar) is a 400 here.
        request_class=CheckedRequest,
        before_request=check_parameters,
        plugins=[ProblemResponses(PUBLIC_PATHS)],
        lifespan=[_lifespan(services)],
        openapi_config=(
            OpenAPIConfig(title="Inbox API", version="0.1.0", path="/schema")
            if settings.web.openapi
            else None
        ),
        request_max_body_size=MAX_BODY_BYTES,
    )
