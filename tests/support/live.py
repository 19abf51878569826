"""A real server on loopback (uvicorn in this process or in a subprocess) and a websocket client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import websockets

from server.app import create_app
from server.services import Services, build_services
from server.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(db_url: str, data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    return {
        "INBOX_DATABASE_URL": db_url,
        "INBOX_DATA_DIR": str(data_dir),
        "INBOX_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "INBOX_LOG_LEVEL": "WARNING",
        **extra,
    }


class LiveServer:
    """uvicorn serving `create_app(settings)` in this event loop."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.settings = settings
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.services: Services | None = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.services = build_services(self.settings)
        config = uvicorn.Config(
            create_app(self.settings, self.services),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            ws_per_message_deflate=False,
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        await wait_healthy(self.url)

    async def stop(self) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await asyncio.wait_for(self._task, 15)


@contextlib.asynccontextmanager
async def live_server(db_url: str, data_dir: Path, **extra: str) -> AsyncIterator[LiveServer]:
    port = free_port()
    server = LiveServer(load_settings(server_env(db_url, data_dir, port, **extra)), port)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class ServerProcess:
    """`inbox serve` in a process of its own."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env = {"PATH": os.environ.get("PATH", ""), **env}
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process: asyncio.subprocess.Process | None = None
        self.extra_args: list[str] = []  # more `inbox serve` options, e.g. --workers 2

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--port",
            str(self.port),
            *self.extra_args,
            cwd=ROOT,
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        await wait_healthy(self.url, self.process)

    async def stop(self) -> str:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.terminate()
        _, stderr = await asyncio.wait_for(self.process.communicate(), 20)
        return stderr.decode()


async def start_pair(
    db_url: str, data_dir: Path, redis_url: str
) -> tuple[ServerProcess, ServerProcess]:
    """Two `inbox serve` processes on one database, their live events crossing over Redis
    (a prefix of their own), with no background workers."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    servers = []
    for _ in range(2):
        port = free_port()
        env = server_env(
            db_url,
            data_dir,
            port,
            INBOX_REDIS_URL=redis_url,
            INBOX_REDIS_PREFIX=prefix,
            INBOX_RUN_WORKERS="false",
        )
        servers.append(ServerProcess(env, port))
    await asyncio.gather(*(s.start() for s in servers))
    return servers[0], servers[1]


async def wait_healthy(url: str, process: asyncio.subprocess.Process | None = None) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if process is not None and process.returncode is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/health")).status_code in (200, 503):
                    return
            await asyncio.sleep(0.05)
    raise TimeoutError(f"{url} never became healthy")


class User:
    """A signed-in browser: an HTTP client with the session cookie and CSRF token."""

    def __init__(self, base_url: str, email: str) -> None:
        self.base_url = base_url
        self.email = email
        self.http = httpx.AsyncClient(base_url=base_url)
        self.csrf = ""

    async def sign_in(self) -> User:
        response = await self.http.post(
            "/api/auth/login", json={"email": self.email, "password": PASSWORD}
        )
        response.raise_for_status()
        self.csrf = response.json()["csrf_token"]
        return self

    async def post(self, url: str, **kwargs: Any) -> Any:
        response = await self.http.post(url, headers={"x-csrf-token": self.csrf}, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    async def put(self, url: str, **kwargs: Any) -> Any:
        response = await self.http.put(url, headers={"x-csrf-token": self.csrf}, **kwargs)
        response.raise_for_status()
        return response.json()

    @property
    def cookie(self) -> str:
        return f"inbox_session={self.http.cookies['inbox_session']}"

    async def close(self) -> None:
        await self.http.aclose()


class Socket:
    """A websocket client that remembers the last sequence it saw, like the browser app."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.last_seq = 0

    @classmethod
    async def open(cls, base_url: str, cookie: str, after: int = 0, **headers: str) -> Socket:
        url = base_url.replace("http://", "ws://") + "/ws"
        ws = await websockets.connect(
            url, additional_headers={"cookie": cookie, **headers}, open_timeout=5, max_size=2**22
        )
        sock = cls(ws)
        sock.last_seq = after
        await ws.send(json.dumps({"type": "hello", "after": after}))
        return sock

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        if "seq" in frame and frame["type"] not in ("ready", "resync"):
            self.last_seq = frame["seq"]
        return frame

    async def until(self, type_: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next frame of a type, skipping others (within the timeout)."""

        async def find() -> dict[str, Any]:
            while True:
                frame = await self.next(timeout)
                if frame["type"] == type_:
                    return frame

        return await asyncio.wait_for(find(), timeout)

    async def events_until_quiet(self, quiet: float = 0.5) -> list[dict[str, Any]]:
        """Every frame until none arrives for `quiet` seconds."""
        frames = []
        while True:
            try:
                frames.append(await self.next(quiet))
            except TimeoutError:
                return frames

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def close(self) -> None:
        await self.ws.close()
