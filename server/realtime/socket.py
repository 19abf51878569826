"""`/ws`: one resumable event stream per browser tab.

The socket registers with the hub before anything else (so nothing committed from then on can
slip past), waits for `hello {after: N}`, replays the log after N from the database, then
streams live frames, dropping any it already sent and filling any gap from the log. Once caught
up, the hub writes live frames to it directly; its own task takes over whatever the hub queued
(frames that came while it was busy, a gap to fill, a send that had to wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any, cast

import msgspec
import sqlalchemy as sa
from litestar import WebSocket, websocket
from litestar.datastructures import State
from litestar.exceptions import WebSocketDisconnect
from litestar.types import Send

from inbox.accounts.models import Account
from inbox.core.access import Actor
from inbox.events.log import list_events_after
from inbox.events.models import Event
from server.auth import signed_in_from
from server.realtime.frames import (
    EVENT_FRAMES,
    AnyEventFrame,
    ErrorFrame,
    Hello,
    Ping,
    Pong,
    PresenceSet,
    PresenceUpdated,
    Ready,
    Resync,
    client_decoder,
    encoder,
)
from server.realtime.hub import CatchUp, Connection, Hub, LiveEvent, Unfinished
from server.services import Services

log = logging.getLogger(__name__)

HELLO_TIMEOUT = 10.0
REPLAY_BATCH = 500
CLOSE_NO_SESSION = 4401
CLOSE_BAD_ORIGIN = 4403
CLOSE_TOO_SLOW = 4008
# Where `server.app.InboxApp` keeps the server's own ASGI send in a websocket's scope.
ASGI_SEND = "inbox.asgi_send"


class SocketClosed(Exception):
    pass


class Stream:
    """One socket's sending side: keeps `last_sent` and never sends a sequence twice."""

    def __init__(
        self, socket: WebSocket[Any, Any, Any], services: Services, connection: Connection
    ) -> None:
        self.socket = socket
        self.services = services
        self.connection = connection

    async def send(self, frame: msgspec.Struct) -> None:
        await self.send_raw(encoder.encode(frame).decode())

    async def send_raw(self, text: str) -> None:
        # No timeout per send (a timer per frame costs more than the send at 10,000 sockets):
        # a client that stops reading fills its bounded queue and is closed for it.
        if self.connection.session_ended:
            raise SocketClosed("the session ended")
        self.connection.busy += 1
        try:
            await self.socket.send({"type": "websocket.send", "text": text, "bytes": None})
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            raise SocketClosed from exc
        finally:
            self.connection.busy -= 1

    async def send_event(self, seq: int, type_: str, at: Any, data: dict[str, Any]) -> None:
        """Send a logged event, whatever its type; `last_sent` moves only once it is sent."""
        if type_ not in EVENT_FRAMES:
            log.warning("sending event type %s, which this server does not know, as stored", type_)
        await self.send(AnyEventFrame(type=type_, seq=seq, at=at, data=data))
        self.connection.last_sent = seq

    async def replay(self) -> None:
        """Send every logged event after `last_sent`, oldest first."""
        while True:
            async with self.services.reader() as session:
                events = await list_events_after(
                    session, self.connection.account_id, self.connection.last_sent, REPLAY_BATCH
                )
            for event in events:
                await self.send_event(event.seq, event.type, event.created_at, event.payload)
            if len(events) < REPLAY_BATCH:
                return

    async def start(self, after: int) -> None:
        """Resync if the log no longer holds what follows `after`; then replay.

        The newest sequence is read after the socket joined the hub, so when the client already
        has it, anything later arrives live and there is nothing to read (one query, not two)."""
        account_id = self.connection.account_id
        oldest_seq = (
            sa.select(sa.func.min(Event.seq))
            .where(Event.account_id == account_id)
            .scalar_subquery()
        )
        async with self.services.reader() as session:
            row = (
                await session.execute(
                    sa.select(Account.event_seq, oldest_seq).where(Account.id == account_id)
                )
            ).first()
        newest, oldest = (row[0] or 0, row[1]) if row is not None else (0, None)
        if after > newest:
            await self.send(Resync(seq=newest, reason="unknown sequence"))
            after = newest
        elif after < newest and (oldest is None or oldest > after + 1):
            await self.send(Resync(seq=newest, reason="older than the log keeps"))
            after = newest
        self.connection.last_sent = after
        if after < newest:
            await self.replay()
        await self.send(Ready(seq=self.connection.last_sent))

    async def pump(self) -> None:
        """Frames the hub queued, until the socket closes or the client falls behind. From the
        first call on, the hub may write to this socket itself whenever the pump is idle."""
        connection = self.connection
        queue = connection.queue
        # The server's own send (see `server.app.InboxApp`): from here on this socket is
        # accepted and only ever sends text frames, so Litestar's wrappers add nothing.
        server_send = cast("Send | None", self.socket.scope.get(ASGI_SEND))
        connection.send = server_send or self.socket.send
        while True:
            item = await queue.get()
            connection.busy += 1
            try:
                if isinstance(item, Unfinished):
                    try:
                        await item.finish()
                    except (WebSocketDisconnect, RuntimeError, OSError) as exc:
                        raise SocketClosed from exc
                elif isinstance(item, CatchUp):
                    await self.replay()
                elif isinstance(item, PresenceUpdated):
                    await self.send(item)
                else:
                    await self._live(item)
            finally:
                connection.busy -= 1

    async def _live(self, event: LiveEvent) -> None:
        if event.seq <= self.connection.last_sent:
            return  # already replayed
        if event.seq > self.connection.last_sent + 1:
            await self.replay()  # a gap: an event published out of order, or lost on the bus
            if event.seq <= self.connection.last_sent:
                return
        await self.send_raw(event.group.frame(event.seq))
        self.connection.last_sent = event.seq


async def _read_hello(socket: WebSocket[Any, Any, Any]) -> int:
    raw = await asyncio.wait_for(socket.receive_data(mode="text"), HELLO_TIMEOUT)
    frame = client_decoder.decode(raw)
    if not isinstance(frame, Hello) or frame.after < 0:
        raise msgspec.ValidationError("the first frame must be hello {after: N}")
    return frame.after


async def _listen(socket: WebSocket[Any, Any, Any], stream: Stream, hub: Hub, actor: Actor) -> None:
    """Client frames after hello: ping and presence."""
    while True:
        raw = await socket.receive_data(mode="text")
        try:
            frame = client_decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            await stream.send(ErrorFrame(code="bad_frame", detail=str(exc)))
            continue
        if isinstance(frame, Ping):
            await stream.send(Pong(nonce=frame.nonce))
        elif isinstance(frame, PresenceSet):
            stream.connection.announced = frame.conversation_id is not None
            await hub.publish_presence(
                PresenceUpdated(
                    account_id=actor.id,
                    name=actor.name,
                    tab=stream.connection.tab,
                    conversation_id=frame.conversation_id,
                    composing=frame.composing,
                )
            )
        else:
            await stream.send(ErrorFrame(code="bad_frame", detail="hello was already received"))


async def _watch_stopped(connection: Connection) -> None:
    await connection.stopped.wait()


@websocket("/ws", exclude_from_auth=True)
async def event_stream(socket: WebSocket[Any, Any, Any], state: State) -> None:
    """Accepts, then closes with 4401 without a session and 4403 from a foreign origin, so
    browsers see the reason (a refusal before accepting reaches them as a bare HTTP 403).
    When the session ends later (logout, a new password, a deactivation, its expiry), the
    socket is closed with 4401 too, whichever process it lives in."""
    services: Services = state.services
    hub: Hub = state.hub
    await socket.accept()
    origin = socket.headers.get("origin")
    if origin and origin.rstrip("/") != services.settings.web.public_origin:
        await socket.close(code=CLOSE_BAD_ORIGIN, reason="origin not allowed")
        return
    signed_in = await signed_in_from(socket, services)
    if signed_in is None:
        await socket.close(code=CLOSE_NO_SESSION, reason="sign in first")
        return
    actor = signed_in.actor
    connection = hub.connect(
        actor.id,
        actor.name,
        uuid.uuid4().hex,
        session_hash=signed_in.token_hash,
        session_expires=signed_in.expires_at,
    )
    stream = Stream(socket, services, connection)
    try:
        try:
            after = await _read_hello(socket)
        except (TimeoutError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            await stream.send(ErrorFrame(code="bad_hello", detail=str(exc) or "no hello"))
            await socket.close(code=1008, reason="expected hello")
            return
        await stream.start(after)
        for frame in hub.presence_snapshot():
            await stream.send(frame)
        await _run_until_first_exit(socket, stream, hub, actor, connection)
    except (SocketClosed, WebSocketDisconnect):
        pass
    finally:
        if connection.session_ended:
            with contextlib.suppress(Exception):
                await socket.close(code=CLOSE_NO_SESSION, reason="session ended")
        hub.disconnect(connection)
        # Only a tab that showed a conversation has anything to clear: a mass disconnect would
        # otherwise send every remaining socket one frame per closing tab.
        if connection.announced:
            with contextlib.suppress(Exception):
                await hub.publish_presence(
                    PresenceUpdated(
                        account_id=actor.id,
                        name=actor.name,
                        tab=connection.tab,
                        conversation_id=None,
                        composing=False,
                    )
                )


async def _run_until_first_exit(
    socket: WebSocket[Any, Any, Any], stream: Stream, hub: Hub, actor: Actor, connection: Connection
) -> None:
    tasks = {
        asyncio.create_task(stream.pump(), name="ws-pump"),
        asyncio.create_task(_listen(socket, stream, hub, actor), name="ws-listen"),
        asyncio.create_task(_watch_stopped(connection), name="ws-stopped"),
    }
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        connection.send = None  # the hub stops writing here before anything else happens
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if connection.session_ended:
        return  # closed with 4401 by the caller
    if connection.too_slow:
        with contextlib.suppress(Exception):
            await socket.close(
                code=CLOSE_TOO_SLOW, reason=f"too far behind; resume after {connection.last_sent}"
            )
        return
    for task in done:
        exc = task.exception()
        if exc is not None and not isinstance(exc, SocketClosed | WebSocketDisconnect):
            raise exc
