"""A Twilio-compatible REST server on loopback: it records every request it gets (path, basic
auth, form fields) and answers message sends as scripted; it also serves MMS media."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from litestar import Litestar, Request, Response, get, post
from litestar.params import FromPath

from tests.support.live import free_port

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "twilio-test-auth-token"


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    auth: tuple[str, str] | None
    form: list[tuple[str, str]]


@dataclass(frozen=True)
class Answer:
    """How the server answers one message send."""

    status: int = 201
    code: int | None = None
    message: str = ""
    delay: float = 0.0  # seconds before answering; the send itself is accepted first


def _basic_auth(request: Request[Any, Any, Any]) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


@dataclass
class FakeTwilio:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)
    accepted: list[dict[str, str]] = field(default_factory=list)  # the texts it "sent"
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    @property
    def sends(self) -> list[Received]:
        return [r for r in self.received if r.path.endswith("/Messages.json")]

    def media_url(self, name: str) -> str:
        return f"{self.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/{name}"

    def _authorized(self, auth: tuple[str, str] | None) -> bool:
        return auth == (ACCOUNT_SID, AUTH_TOKEN)

    async def send(self, request: Request[Any, Any, Any]) -> Response[Any]:
        form = [(k, v) for k, v in (await request.form()).multi_items() if isinstance(v, str)]
        auth = _basic_auth(request)
        self.received.append(Received("POST", request.url.path, auth, form))
        if not self._authorized(auth):
            return Response(
                {"code": 20003, "message": "Authenticate", "status": 401}, status_code=401
            )
        answer = self.script.pop(0) if self.script else Answer()
        if answer.status >= 300:
            body = {"code": answer.code, "message": answer.message, "status": answer.status}
            return Response(body, status_code=answer.status)
        sid = f"SM{len(self.accepted) + 1:032x}"
        self.accepted.append({**dict(form), "sid": sid})
        if answer.delay:
            await asyncio.sleep(answer.delay)
        return Response({"sid": sid, "status": "queued"}, status_code=201)

    async def get_media(self, request: Request[Any, Any, Any], name: str) -> Response[bytes]:
        auth = _basic_auth(request)
        self.received.append(Received("GET", request.url.path, auth, []))
        if not self._authorized(auth):
            return Response(b"", status_code=401)
        if name not in self.media:
            return Response(b"", status_code=404)
        data, content_type = self.media[name]
        return Response(data, media_type=content_type)

    def app(self) -> Litestar:
        @post("/2010-04-01/Accounts/{account:str}/Messages.json", status_code=201)
        async def messages(
            request: Request[Any, Any, Any], account: FromPath[str]
        ) -> Response[Any]:
            return await self.send(request)

        @get("/2010-04-01/Accounts/{account:str}/Messages/{sid:str}/Media/{name:str}")
        async def media(
            request: Request[Any, Any, Any],
            account: FromPath[str],
            sid: FromPath[str],
            name: FromPath[str],
        ) -> Response[bytes]:
            return await self.get_media(request, name)

        return Litestar([messages, media], openapi_config=None)


@contextlib.asynccontextmanager
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    """The fake server, in a thread of its own: Litestar's test client blocks the test's loop
    while the app handles a request, and the app may call this server meanwhile."""
    fake = FakeTwilio()
    port = free_port()
    fake.url = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(
        fake.app(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fake-twilio", daemon=True)
    thread.start()
    for _ in range(250):
        if server.started:
            break
        await asyncio.sleep(0.02)
    else:
        raise TimeoutError("the fake Twilio server did not start")
    try:
        yield fake
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 10)
