"""The per-process hub: which accounts have sockets here, and what each socket still has to get.

Committed events travel over the bus to every process. Each hub writes an event straight to
every socket of its accounts that is caught up and idle, in one loop like a broadcast; a socket
that is replaying, has frames waiting or cannot take more right now gets it through its bounded
queue instead, so a slow client never stalls the others and order is kept. The event log stays
the truth: a socket that sees a gap, or any socket while the bus is down, reads what it missed
from the database.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Coroutine, Generator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import msgspec
import sqlalchemy as sa
from litestar.types import Send, WebSocketSendEvent
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.accounts.sessions import live_sessions, session_id_of
from inbox.core.ports import StoredEvent
from inbox.events.models import Event
from server.realtime.bus import Bus
from server.realtime.frames import EVENT_FRAMES, PresenceUpdated

log = logging.getLogger(__name__)

PRESENCE_TTL = timedelta(seconds=60)
POLL_INTERVAL = 1.0
SESSION_POLLS = 5  # with the bus down, sessions are checked every fifth poll of the log
ENDED_SESSION_MEMORY = 60.0
EXPIRY_CHECK_SECONDS = 30.0
GC_CHECK_SECONDS = 5.0
GC_FULL_SECONDS = 3600.0
GC_YOUNG_THRESHOLD = 50_000


class WireGroup(msgspec.Struct, array_like=True, frozen=True):
    """One change as it reaches many accounts: the payload once, each account's sequence."""

    type: str
    payload: dict[str, Any]
    created_at: datetime
    targets: list[tuple[int, int]]  # (account_id, seq)


class BusEvents(msgspec.Struct, tag="events", frozen=True):
    groups: list[WireGroup]


class LiveGroup:
    """A received group with its frame encoded once; each socket only adds its own `seq`.

    The frame is text: a websocket text frame goes out through ASGI as `str`, so building
    bytes would only have every socket decode them again."""

    __slots__ = ("_head", "_tail", "created_at", "payload", "type")

    def __init__(self, group: WireGroup) -> None:
        self.type = group.type
        self.payload = group.payload
        self.created_at = group.created_at
        self._head = '{"type":' + _bus_encoder.encode(group.type).decode() + ',"seq":'
        self._tail = (
            ',"at":'
            + _bus_encoder.encode(group.created_at).decode()
            + ',"data":'
            + _bus_encoder.encode(group.payload).decode()
            + "}"
        )
        if group.type not in EVENT_FRAMES:
            log.warning(
                "sending event type %s, which this server does not know, as stored", group.type
            )

    def frame(self, seq: int) -> str:
        return self._head + str(seq) + self._tail


@dataclass(frozen=True, slots=True)
class LiveEvent:
    seq: int
    group: LiveGroup


def group_events(events: Sequence[StoredEvent]) -> list[WireGroup]:
    """Runs of events that are one change to many accounts (record_event shares the payload
    object among them) become one group, keeping each account's order."""
    groups: list[WireGroup] = []
    run: list[StoredEvent] = []
    for event in events:
        if run and (event.payload is not run[0].payload or event.type != run[0].type):
            groups.append(_group(run))
            run = []
        run.append(event)
    if run:
        groups.append(_group(run))
    return groups


def _group(run: list[StoredEvent]) -> WireGroup:
    first = run[0]
    return WireGroup(
        first.type, first.payload, first.created_at, [(e.account_id, e.seq) for e in run]
    )


class BusPresence(msgspec.Struct, tag="presence", frozen=True):
    frame: PresenceUpdated
    expires_at: datetime


class BusSessionsEnded(msgspec.Struct, tag="sessions_ended", frozen=True):
    """Sign-in sessions that ended (logout, a new password, a deactivation): every process
    closes their sockets. Sessions go by `inbox.sessions.session_id_of`, never by token."""

    account_id: int
    sessions: list[str]


BusMessage = BusEvents | BusPresence | BusSessionsEnded
_bus_decoder = msgspec.json.Decoder(BusMessage)
_bus_encoder = msgspec.json.Encoder()


class CatchUp:
    """Tells a socket to read the log after its last sequence."""


CATCH_UP = CatchUp()


class Unfinished:
    """A send the hub started that had to wait (the client's TCP buffer was full).

    The hub runs a send's coroutine itself up to its first suspension, as an eager task would
    (`asyncio.eager_task_factory`, Python 3.12). Almost always the ASGI server writes to the
    transport without suspending and the send is done; when it does suspend, what is left of it
    goes to the front of the socket's queue, and the socket's own task finishes it before
    anything else, so frames keep their order and the other sockets do not wait."""

    __slots__ = ("_coro", "_waiting")

    def __init__(self, coro: Coroutine[Any, Any, None], waiting: Any) -> None:
        self._coro = coro
        self._waiting = waiting

    async def finish(self) -> None:
        """Drive the rest of the send as a task would: resume it when what it waits for is
        done, or throw in what that raised (cancellation included)."""
        coro, waiting = self._coro, self._waiting
        while True:
            try:
                await _Waiter(waiting)
            except BaseException as exc:
                try:
                    waiting = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    waiting = coro.send(None)
                except StopIteration:
                    return


class _Waiter:
    """Waits for what a coroutine yielded to the event loop (a future, or None for a bare
    yield) without taking its result: the coroutine reads that itself when resumed."""

    __slots__ = ("_waiting",)

    def __init__(self, waiting: Any) -> None:
        self._waiting = waiting

    def __await__(self) -> Generator[Any, None, None]:
        if self._waiting is None or not self._waiting.done():
            yield self._waiting


Item = LiveEvent | PresenceUpdated | CatchUp | Unfinished


@dataclass(eq=False)
class Connection:
    """One socket as the hub sees it.

    `send` is the socket's ASGI send, set once its replay is done (the hub only writes to a
    caught-up socket); `busy` counts sends and queue items in progress on the socket's own task,
    during which the hub queues instead of writing."""

    account_id: int
    name: str
    tab: str
    queue_size: int
    # The sign-in session behind the socket: its stored hash (to look it up) and its name on
    # the bus (`session_id_of`); empty for a socket that has none.
    session_hash: str = ""
    session_id: str = ""
    session_expires: datetime | None = None
    queue: asyncio.Queue[Item] = field(init=False)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    too_slow: bool = False
    session_ended: bool = False
    last_sent: int = 0
    announced: bool = False  # this tab's presence shows a conversation
    send: Send | None = None
    busy: int = 0

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.queue_size)

    def offer(self, item: Item) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.too_slow = True
            self.stopped.set()  # the socket closes; the client resumes from its last seq

    def end_session(self) -> None:
        """The session behind this socket ended: nothing more is written, the socket closes
        with 4401."""
        self.session_ended = True
        self.send = None
        self.stopped.set()

    def deliver(self, seq: int, group: LiveGroup) -> None:
        """Write the event now if this socket is caught up and idle; else queue it."""
        send = self.send
        if send is None or self.busy or seq != self.last_sent + 1 or not self.queue.empty():
            self.offer(LiveEvent(seq, group))
            return
        self.last_sent = seq  # sent now, or finished first by the socket's task (`Unfinished`)
        event: WebSocketSendEvent = {
            "type": "websocket.send",
            "text": group.frame(seq),
            "bytes": None,
        }
        coro = cast(Coroutine[Any, Any, None], send(event))  # Litestar's send is `async def`
        try:
            waiting = coro.send(None)
        except StopIteration:
            return
        except Exception:  # the client is gone; its socket's task ends it
            log.debug("a direct send failed; closing the socket", exc_info=True)
            self.send = None
            self.stopped.set()
            return
        self.queue.put_nowait(Unfinished(coro, waiting))  # the queue was empty


class Hub:
    """Implements the EventPublisher port for the app, and fans events out to local sockets."""

    def __init__(
        self, bus: Bus, sessionmaker: async_sessionmaker[AsyncSession], *, queue_size: int = 1000
    ) -> None:
        self.bus = bus
        self.sessionmaker = sessionmaker
        self.queue_size = queue_size
        self.connections: dict[int, set[Connection]] = {}
        self.presence: dict[str, BusPresence] = {}
        # Sessions ended lately, for a socket that checked its session just before the news
        # arrived and joins just after it.
        self.ended_sessions: dict[str, float] = {}

    # Publishing (after commit).
    async def publish(self, events: Sequence[StoredEvent]) -> None:
        await self.bus.publish(_bus_encoder.encode(BusEvents(group_events(events))))

    async def publish_presence(self, frame: PresenceUpdated) -> None:
        expires = datetime.now(UTC) + PRESENCE_TTL
        await self.bus.publish(_bus_encoder.encode(BusPresence(frame, expires)))

    async def end_sessions(self, account_id: int, session_ids: Sequence[str]) -> None:
        """After the commit that ended them: close the sessions' sockets in every process."""
        if not session_ids:
            return
        message = BusSessionsEnded(account_id, list(session_ids))
        if not await self.bus.publish(_bus_encoder.encode(message)):
            # The bus is down: close the ones here now; the other processes find out from
            # the database (`sweep_sessions`) while it stays down, or when it comes back.
            self._on_sessions_ended(message)

    # Sockets.
    def connect(
        self,
        account_id: int,
        name: str,
        tab: str,
        *,
        session_hash: str = "",
        session_expires: datetime | None = None,
    ) -> Connection:
        connection = Connection(
            account_id,
            name,
            tab,
            self.queue_size,
            session_hash=session_hash,
            session_id=session_id_of(session_hash) if session_hash else "",
            session_expires=session_expires,
        )
        self.connections.setdefault(account_id, set()).add(connection)
        if connection.session_id in self.ended_sessions:
            connection.end_session()
        return connection

    def disconnect(self, connection: Connection) -> None:
        mine = self.connections.get(connection.account_id)
        if mine is not None:
            mine.discard(connection)
            if not mine:
                del self.connections[connection.account_id]

    def presence_snapshot(self) -> list[PresenceUpdated]:
        now = datetime.now(UTC)
        for tab in [t for t, p in self.presence.items() if p.expires_at <= now]:
            del self.presence[tab]
        return [p.frame for p in self.presence.values() if p.frame.conversation_id is not None]

    # Receiving.
    def on_bus_message(self, data: bytes) -> None:
        try:
            message = _bus_decoder.decode(data)
        except msgspec.DecodeError:
            log.warning("dropped an unreadable bus message")
            return
        if isinstance(message, BusPresence):
            self._on_presence(message)
            return
        if isinstance(message, BusSessionsEnded):
            self._on_sessions_ended(message)
            return
        connections = self.connections
        for wire in message.groups:
            group = LiveGroup(wire)
            for account_id, seq in wire.targets:
                mine = connections.get(account_id)
                if mine:
                    for connection in mine:  # delivering never awaits: the set cannot change
                        connection.deliver(seq, group)

    def _on_presence(self, message: BusPresence) -> None:
        if message.frame.conversation_id is None:
            self.presence.pop(message.frame.tab, None)
        else:
            self.presence[message.frame.tab] = message
        for connections in self.connections.values():
            for connection in connections:
                if connection.tab != message.frame.tab:
                    connection.offer(message.frame)

    def _on_sessions_ended(self, message: BusSessionsEnded) -> None:
        now = time.monotonic()
        ended = self.ended_sessions
        for session_id in [s for s, until in ended.items() if until <= now]:
            del ended[session_id]
        for session_id in message.sessions:
            ended[session_id] = now + ENDED_SESSION_MEMORY
        for connection in list(self.connections.get(message.account_id, ())):
            if connection.session_id in message.sessions:
                connection.end_session()

    async def sweep_sessions(self) -> None:
        """Close the sockets whose session no longer signs anyone in, asking the database:
        while the bus is down, and once it is back, news of ended sessions may have been
        lost."""
        sockets = [c for mine in self.connections.values() for c in mine if c.session_hash]
        if not sockets:
            return
        try:
            async with self.sessionmaker() as session:
                live = await live_sessions(
                    session, {c.session_hash for c in sockets}, datetime.now(UTC)
                )
        except Exception:
            log.warning("checking the sessions of open sockets failed", exc_info=True)
            return
        for connection in sockets:
            if connection.session_hash not in live:
                connection.end_session()

    async def _expire_sessions(self) -> None:
        """Close sockets whose session ran out (checked here, no query)."""
        while True:
            await asyncio.sleep(EXPIRY_CHECK_SECONDS)
            now = datetime.now(UTC)
            for connections in list(self.connections.values()):
                for connection in list(connections):
                    expires = connection.session_expires
                    if expires is not None and expires <= now:
                        connection.end_session()

    async def catch_up_all(self) -> None:
        for connections in self.connections.values():
            for connection in connections:
                connection.offer(CATCH_UP)
        await self.sweep_sessions()

    async def _poll_while_down(self) -> None:
        """With the bus down, look at the log once a second for every account with a socket,
        and at their sessions every few seconds."""
        polls = 0
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            if self.bus.up.is_set() or not self.connections:
                continue
            polls += 1
            if polls % SESSION_POLLS == 0:
                await self.sweep_sessions()
            try:
                async with self.sessionmaker() as session:
                    rows = await session.execute(
                        sa.select(Event.account_id, sa.func.max(Event.seq))
                        .where(Event.account_id.in_(list(self.connections)))
                        .group_by(Event.account_id)
                    )
                    newest = dict(rows.tuples().all())
            except Exception:
                log.warning("polling the event log failed", exc_info=True)
                continue
            for account_id, seq in newest.items():
                for connection in self.connections.get(account_id, ()):
                    if seq > connection.last_sent:
                        connection.offer(CATCH_UP)

    async def _tend_garbage_collector(self) -> None:
        """Keep full collections out of fan-out. With thousands of sockets a gen-2 pass walks
        every connection's objects (measured: up to 0.9 s at 10,000) and lands mid-broadcast.
        Long-lived objects are frozen out of the collector as sockets accumulate; once an hour
        everything is thawed and collected in one planned pass, so cycles left by closed sockets
        are still reclaimed."""
        # A fan-out allocates one small object per socket at once; a larger young generation
        # lets such bursts die young instead of being promoted towards a full collection.
        gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 50)
        frozen_at = 0
        last_full = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(GC_CHECK_SECONDS)
            count = sum(len(c) for c in self.connections.values())
            now = asyncio.get_running_loop().time()
            if now - last_full >= GC_FULL_SECONDS:
                gc.unfreeze()
                gc.collect()
                gc.freeze()
                frozen_at, last_full = count, now
            elif count > frozen_at * 1.1 + 50:
                gc.collect(1)  # young garbage goes before the rest is frozen
                gc.freeze()
                frozen_at = count

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self.bus.run(self.on_bus_message, self.catch_up_all), name="bus")
            group.create_task(self._poll_while_down(), name="log-poller")
            group.create_task(self._tend_garbage_collector(), name="gc")
            group.create_task(self._expire_sessions(), name="session-expiry")
