"""The server side of `bench/fanout.py`: one process, pinned to core 0, driven over stdin.

    python bench/fanout_server.py inbox --accounts N --port P --data-dir DIR
    python bench/fanout_server.py bare --port P

`inbox` serves the real app (`create_app`) with uvicorn, on a fresh SQLite file seeded with N
contact managers and one session each (the cookie token of account `i` is `bench-token-i`).
`bare` is the yardstick: `websockets` serving the same hello/ready exchange and sending the same
frame bytes with `websockets.broadcast()`.

Commands, one per line on stdin; every answer is one JSON line on stdout:

    fire    record and publish one `conversation.updated` event to every account (inbox), or
            broadcast the same frame to every socket (bare); answers the time `t` the event
            became visible (right after the commit; right before the broadcast) and its seq
    rss     the process's resident memory in KB, and the live socket count
    freeze  gc.collect() then gc.freeze(): the heap so far is never scanned again
    gc      how many collections of the oldest generation ran since the last `gc`, and the longest
    quit    exit at once, without the graceful close (see `_quit`)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import json
import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script from anywhere: import the project's packages

SERVER_CORE = 0
EVENT_TYPE = "conversation.updated"
# About the size of a real conversation.updated frame (the whole frame is about 300 bytes).
PAYLOAD: dict[str, Any] = {
    "conversation_id": 48213,
    "subject": "Re: Quote for the 2024 model, delivery in March?",
    "assignee_id": 17,
    "last_human_direction": "inbound",
    "last_message_id": 918273,
    "last_activity_at": "2025-01-14T09:31:07.412000+00:00",
    "unread": 3,
    "preview": "Thanks, that works for us. Could you also send the financing options?",
}


def token_for(account_id: int) -> str:
    """The session cookie token of a seeded account (the driver computes the same)."""
    return f"bench-token-{account_id}"


def pin_and_raise_limits(core: int) -> None:
    """Pin this process (and every thread it starts later) to one core; allow many sockets."""
    os.sched_setaffinity(0, {core})
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def answer(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


class GcWatch:
    """Times every collection of the oldest generation (the ones that stall the loop)."""

    def __init__(self) -> None:
        self.count = 0
        self.longest = 0.0
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.count += 1
            self.longest = max(self.longest, time.perf_counter() - self._started)

    def take(self) -> dict[str, Any]:
        report = {"gen2_collections": self.count, "gen2_longest_ms": round(self.longest * 1e3, 1)}
        self.count, self.longest = 0, 0.0
        return report


def _quit() -> None:
    # Skip the graceful close on purpose: the bench is over, and closing thousands of sockets
    # one by one is not what it measures.
    sys.stdout.flush()
    os._exit(0)


async def control_loop(fire: Any, sockets: Any, watch: GcWatch) -> None:
    """Answer the driver's commands until `quit` (or stdin closes)."""
    while True:
        line = (await asyncio.to_thread(sys.stdin.readline)).strip()
        if line in ("", "quit"):
            _quit()
        elif line == "fire":
            answer(**await fire())
        elif line == "rss":
            answer(rss_kb=rss_kb(), sockets=sockets())
        elif line == "freeze":
            gc.collect()
            gc.freeze()
            answer(frozen=gc.get_freeze_count())
        elif line == "gc":
            answer(**watch.take())
        else:
            answer(error=f"unknown command {line!r}")


# The real app.
async def seed(engine: Any, accounts: int) -> None:
    """N contact managers with one live session each, inserted directly: the sign-in path is not
    what this measures, and hashing N passwords would take minutes."""
    import sqlalchemy as sa

    from inbox.accounts.models import Account, Role, UserSession
    from inbox.accounts.passwords import hash_password

    password_hash = hash_password("bench password")  # one hash for everyone
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(Account),
            [
                {
                    "id": i,
                    "email": f"agent{i}@bench.test",
                    "name": f"Agent {i}",
                    "role": Role.CONTACT_MANAGER,
                    "password_hash": password_hash,
                }
                for i in range(1, accounts + 1)
            ],
        )
        await conn.execute(
            sa.insert(UserSession),
            [
                {
                    "token_hash": hashlib.sha256(token_for(i).encode()).hexdigest(),
                    "account_id": i,
                    "csrf_token": f"bench-csrf-{i}",
                    "created_at": now,
                    "expires_at": now + timedelta(days=1),
                }
                for i in range(1, accounts + 1)
            ],
        )


async def serve_inbox(accounts: int, port: int, data_dir: Path) -> None:
    import uvicorn

    from inbox.core.db import migrate
    from inbox.events.log import record_event, take_pending
    from inbox.events.types import Event

    class FanoutEvent(Event, tag=EVENT_TYPE, frozen=True, kw_only=True):
        """A frame of the size of a real conversation.updated, as the bench always sent."""

        conversation_id: int
        subject: str
        assignee_id: int
        last_human_direction: str
        last_message_id: int
        last_activity_at: str
        unread: int
        preview: str

    from server.app import create_app
    from server.services import build_services
    from server.settings import load_settings

    settings = load_settings(
        {
            "INBOX_DATABASE_URL": f"sqlite:///{data_dir / 'bench.db'}",
            "INBOX_DATA_DIR": str(data_dir),
            "INBOX_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "INBOX_LOG_LEVEL": "WARNING",
            "INBOX_RUN_WORKERS": "false",
        }
    )
    migrate(settings.database.url)
    services = build_services(settings)
    await seed(services.engine, accounts)
    account_ids = list(range(1, accounts + 1))

    async def fire() -> dict[str, Any]:
        async with services.sessionmaker() as session:
            started = time.perf_counter()
            await record_event(session, account_ids, FanoutEvent(**PAYLOAD))
            await session.commit()
            t = time.time()
            committed = time.perf_counter()
            events = take_pending(session)
            await services.hub.publish(events)
            published = time.perf_counter()
        seqs = {e.seq for e in events}
        return {
            "t": t,
            "seq": min(seqs),
            "seq_max": max(seqs),
            "events": len(events),
            "record_ms": round((committed - started) * 1e3, 1),
            "publish_ms": round((published - committed) * 1e3, 1),
        }

    def sockets() -> int:
        return sum(len(c) for c in services.hub.connections.values())

    config = uvicorn.Config(
        create_app(settings, services),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_per_message_deflate=False,
        lifespan="on",
        backlog=4096,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()  # raises why it stopped
        await asyncio.sleep(0.05)
    watch = GcWatch()
    answer(ready=True, rss_kb=rss_kb())
    await control_loop(fire, sockets, watch)


# The yardstick.
async def serve_bare(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    from server.realtime.frames import AnyEventFrame, Ready, encoder

    connections: set[ServerConnection] = set()
    ready = encoder.encode(Ready(seq=0)).decode()
    sent = 0

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()  # hello
        await ws.send(ready)
        connections.add(ws)
        try:
            await ws.wait_closed()
        finally:
            connections.discard(ws)

    async def fire() -> dict[str, Any]:
        nonlocal sent
        sent += 1
        frame = AnyEventFrame(type=EVENT_TYPE, seq=sent, at=datetime.now(UTC), data=PAYLOAD)
        text = encoder.encode(frame).decode()
        t = time.time()
        broadcast(connections, text)
        return {"t": t, "seq": sent, "seq_max": sent, "send_ms": (time.time() - t) * 1e3}

    async with serve(handler, "127.0.0.1", port, compression=None, backlog=4096):
        watch = GcWatch()
        answer(ready=True, rss_kb=rss_kb())
        await control_loop(fire, lambda: len(connections), watch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["inbox", "bare"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--accounts", type=int, default=0)
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args()
    pin_and_raise_limits(SERVER_CORE)
    with contextlib.suppress(KeyboardInterrupt):
        if args.kind == "inbox":
            if args.data_dir is None or args.accounts < 1:
                parser.error("inbox needs --accounts N and --data-dir")
            asyncio.run(serve_inbox(args.accounts, args.port, args.data_dir))
        else:
            asyncio.run(serve_bare(args.port))


if __name__ == "__main__":
    main()
