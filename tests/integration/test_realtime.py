"""The websocket event stream over real sockets: uvicorn on loopback, the `websockets` client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa
import websockets
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.accounts.models import Account
from inbox.conversations.messages import do_record_inbound
from inbox.conversations.models import Channel
from inbox.core.ports import StoredEvent
from inbox.email.schemas import InboundMessage
from inbox.events.log import record_event
from inbox.events.models import Event
from inbox.events.types import ConversationUpdated
from inbox.events.types import Event as EventType
from server.realtime.frames import EVENT_FRAMES
from server.realtime.hub import Unfinished
from tests.conftest import create_account
from tests.support.live import LiveServer, Socket, User, live_server

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def server(db_url: str, tmp_path: Path, sessionmaker: Maker) -> AsyncIterator[LiveServer]:
    await create_account(sessionmaker, "dana@oem.test")
    await create_account(sessionmaker, "sam@oem.test")
    async with live_server(db_url, tmp_path, INBOX_RUN_WORKERS="false") as s:
        yield s


async def signed_in(server: LiveServer, email: str) -> User:
    return await User(server.url, email).sign_in()


async def new_conversation(user: User, name: str = "Pat") -> int:
    prospect = await user.post(
        "/api/prospects", json={"first_name": name, "emails": [f"{name.lower()}@example.com"]}
    )
    return int(prospect["conversation_id"])


async def inbound(server: LiveServer, conversation_id: int, text: str) -> None:
    """A reply arriving in the server process, as a channel adapter records it."""
    assert server.services is not None
    async with server.services.transaction() as s:
        await do_record_inbound(
            s,
            conversation_id,
            InboundMessage(channel=Channel.EMAIL, from_address="pat@example.com", body_text=text),
            thread_rule="test",
        )


async def test_no_session_closes_4401_and_a_foreign_origin_4403(server: LiveServer) -> None:
    ws_url = server.url.replace("http", "ws") + "/ws"
    async with websockets.connect(ws_url) as ws:
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 4401
    dana = await signed_in(server, "dana@oem.test")
    async with websockets.connect(
        ws_url, additional_headers={"cookie": dana.cookie, "origin": "https://evil.example"}
    ) as ws:
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 4403
    await dana.close()


async def test_events_reach_the_users_allowed_to_see_them_only(server: LiveServer) -> None:
    dana, sam = await signed_in(server, "dana@oem.test"), await signed_in(server, "sam@oem.test")
    dana_ws = await Socket.open(server.url, dana.cookie)
    sam_ws = await Socket.open(server.url, sam.cookie)
    assert (await dana_ws.next())["type"] == "ready" and (await sam_ws.next())["type"] == "ready"

    cid = await new_conversation(dana)
    await dana.put(f"/api/conversations/{cid}/flag")  # a flag is Dana's alone
    await dana.post(
        f"/api/conversations/{cid}/messages", json={"channel": "email", "body_text": "Hi"}
    )

    flagged = await dana_ws.until("conversation.updated")
    assert flagged["data"] == {"conversation_id": cid, "flagged": True}
    created = await dana_ws.until("message.created")
    assert created["seq"] == flagged["seq"] + 1
    # Sam's first event is the send everyone sees: Dana's flag never reaches him.
    first_for_sam = await sam_ws.next()
    assert first_for_sam["type"] == "message.created"
    assert first_for_sam["data"]["conversation_id"] == cid
    await asyncio.gather(dana_ws.close(), sam_ws.close(), dana.close(), sam.close())


async def test_a_reply_notifies_the_assignee_only(server: LiveServer, sessionmaker: Maker) -> None:
    dana, sam = await signed_in(server, "dana@oem.test"), await signed_in(server, "sam@oem.test")
    cid = await new_conversation(dana)
    await dana.post(
        f"/api/conversations/{cid}/messages", json={"channel": "email", "body_text": "Hi"}
    )
    dana_ws = await Socket.open(server.url, dana.cookie, after=999_999)  # resync straight to now
    sam_ws = await Socket.open(server.url, sam.cookie, after=999_999)
    await dana_ws.until("ready")
    await sam_ws.until("ready")

    await inbound(server, cid, "Sounds good")
    note = await dana_ws.until("notification.created")
    assert note["data"]["notification"]["conversation_id"] == cid
    assert note["data"]["notification"]["title"] == "New reply from pat@example.com"
    sam_first = await sam_ws.next()
    assert sam_first["type"] == "message.created"
    unread = (await dana.http.get("/api/notifications")).json()
    assert unread["unread_count"] == 1
    assert (await sam.http.get("/api/notifications")).json()["unread_count"] == 0
    await asyncio.gather(dana_ws.close(), sam_ws.close(), dana.close(), sam.close())


async def dana_events(maker: Maker, after: int) -> list[int]:
    async with maker() as s:
        rows = await s.scalars(
            sa.select(Event.seq)
            .join_from(Event, Account, Event.account_id == Account.id)
            .where(Account.email == "dana@oem.test", Event.seq > after)
            .order_by(Event.seq)
        )
        return list(rows)


async def test_a_client_that_reconnects_gets_exactly_what_it_missed_in_order_once(
    server: LiveServer, sessionmaker: Maker
) -> None:
    dana, sam = await signed_in(server, "dana@oem.test"), await signed_in(server, "sam@oem.test")
    ws = await Socket.open(server.url, dana.cookie)
    await ws.until("ready")
    cid = await new_conversation(sam)
    await sam.post(
        f"/api/conversations/{cid}/messages", json={"channel": "email", "body_text": "one"}
    )
    await ws.until("conversation.updated")
    seen = ws.last_seq
    await ws.close()

    # While Dana is away: a send, a flag of hers from another tab, a reply.
    await sam.post(
        f"/api/conversations/{cid}/messages", json={"channel": "email", "body_text": "two"}
    )
    await dana.put(f"/api/conversations/{cid}/flag")
    await inbound(server, cid, "three")
    missed = await dana_events(sessionmaker, seen)
    assert len(missed) >= 5

    ws = await Socket.open(server.url, dana.cookie, after=seen)
    frames = []
    while (frame := await ws.next())["type"] != "ready":
        frames.append(frame)
    assert [f["seq"] for f in frames] == missed
    assert frame["seq"] == missed[-1]
    # Live again: the next change arrives once, with the next number.
    await dana.post(f"/api/conversations/{cid}/read")
    live = await ws.next()
    assert live["seq"] == missed[-1] + 1 and live["data"]["unread"] is False
    await asyncio.gather(ws.close(), dana.close(), sam.close())


async def test_a_client_resumes_across_a_server_restart(
    db_url: str, tmp_path: Path, sessionmaker: Maker
) -> None:
    await create_account(sessionmaker, "dana@oem.test")
    async with live_server(db_url, tmp_path, INBOX_RUN_WORKERS="false") as first:
        dana = await signed_in(first, "dana@oem.test")
        cid = await new_conversation(dana)
        ws = await Socket.open(first.url, dana.cookie)
        await ws.until("ready")
        seen = ws.last_seq
        port = first.port
    await dana.close()
    # The server is down; a reply lands in the database (the log) meanwhile.
    async with sessionmaker() as s:
        await do_record_inbound(
            s,
            cid,
            InboundMessage(
                channel=Channel.EMAIL,
                from_address="pat@example.com",
                body_text="while you were out",
            ),
            thread_rule="test",
        )
        await s.commit()
    missed = await dana_events(sessionmaker, seen)
    second = LiveServer(first.settings, port)
    await second.start()
    try:
        dana = await signed_in(second, "dana@oem.test")
        ws = await Socket.open(second.url, dana.cookie, after=seen)
        frames = []
        while (frame := await ws.next())["type"] != "ready":
            frames.append(frame)
        assert [f["seq"] for f in frames] == missed
        assert {f["type"] for f in frames} >= {"message.created", "notification.created"}
        await ws.close()
        await dana.close()
    finally:
        await second.stop()


async def test_a_sequence_older_than_the_log_gets_resync(
    server: LiveServer, sessionmaker: Maker
) -> None:
    dana = await signed_in(server, "dana@oem.test")
    cid = await new_conversation(dana)
    for text in ("a", "b"):
        await dana.post(
            f"/api/conversations/{cid}/messages", json={"channel": "email", "body_text": text}
        )
    newest = (await dana_events(sessionmaker, 0))[-1]
    async with sessionmaker() as s:
        await s.execute(sa.delete(Event).where(Event.seq <= 2))  # past the retention
        await s.commit()
    ws = await Socket.open(server.url, dana.cookie, after=1)
    resync = await ws.next()
    assert resync == {"type": "resync", "seq": newest, "reason": "older than the log keeps"}
    assert (await ws.next()) == {"type": "ready", "seq": newest}
    await asyncio.gather(ws.close(), dana.close())


async def test_presence_shows_who_has_a_conversation_open_and_who_is_typing(
    server: LiveServer,
) -> None:
    dana, sam = await signed_in(server, "dana@oem.test"), await signed_in(server, "sam@oem.test")
    cid = await new_conversation(dana)
    dana_ws = await Socket.open(server.url, dana.cookie, after=10**6)
    sam_ws = await Socket.open(server.url, sam.cookie, after=10**6)
    await dana_ws.until("ready")
    await sam_ws.until("ready")
    await dana_ws.send({"type": "presence", "conversation_id": cid, "composing": True})
    seen = await sam_ws.until("presence.updated")
    assert (seen["name"], seen["conversation_id"], seen["composing"]) == ("Dana", cid, True)

    late = await Socket.open(server.url, sam.cookie, after=10**6)  # a new tab learns it at once
    await late.until("ready")
    assert (await late.until("presence.updated"))["conversation_id"] == cid

    await dana_ws.close()
    gone = await sam_ws.until("presence.updated")
    assert gone["conversation_id"] is None and gone["tab"] == seen["tab"]
    await asyncio.gather(sam_ws.close(), late.close(), dana.close(), sam.close())


async def test_a_bad_frame_gets_an_error_frame_and_the_stream_goes_on(server: LiveServer) -> None:
    dana = await signed_in(server, "dana@oem.test")
    ws = await Socket.open(server.url, dana.cookie)
    await ws.until("ready")
    await ws.send({"type": "shout", "volume": 11})
    error = await ws.next()
    assert error["type"] == "error" and error["code"] == "bad_frame"
    await ws.send({"type": "ping", "nonce": "n1"})
    assert await ws.next() == {"type": "pong", "nonce": "n1"}
    await asyncio.gather(ws.close(), dana.close())


async def test_a_client_too_far_behind_is_closed_with_its_resume_point(
    db_url: str, tmp_path: Path, sessionmaker: Maker
) -> None:
    dana_actor = await create_account(sessionmaker, "dana@oem.test")
    async with live_server(
        db_url, tmp_path, INBOX_RUN_WORKERS="false", INBOX_WS_QUEUE_SIZE="200"
    ) as srv:
        dana = await signed_in(srv, "dana@oem.test")
        slow = await websockets.connect(
            srv.url.replace("http", "ws") + "/ws",
            additional_headers={"cookie": dana.cookie},
            max_queue=1,
        )
        await slow.send('{"type": "hello", "after": 0}')
        assert '"ready"' in await slow.recv()
        fast = await Socket.open(srv.url, dana.cookie)
        await fast.until("ready")
        assert srv.services is not None
        big = {"text": "x" * 8000}
        now = datetime.now(UTC)
        for seq in range(1, 4001):  # far more than the socket buffers and the queue hold
            await srv.services.hub.publish(
                [StoredEvent(dana_actor.id, seq, "queue.updated", big, now)]
            )
            if seq % 100 == 0:
                # A client that reads keeps up: it gets every frame, in order.
                assert [(await fast.next())["seq"] for _ in range(100)] == list(
                    range(seq - 99, seq + 1)
                )
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(slow.recv(), 10)
        assert slow.close_code == 4008
        assert slow.close_reason.startswith("too far behind; resume after ")
        await asyncio.gather(fast.close(), dana.close())


async def test_a_client_that_pauses_reading_gets_every_frame_in_order_and_stalls_no_one(
    db_url: str, tmp_path: Path, sessionmaker: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub writes to caught-up sockets itself; when a client's TCP buffer is full that
    write has to wait, and its socket's own task finishes it before the frames queued behind."""
    finished: list[int] = []
    original = Unfinished.finish

    async def counted(self: Unfinished) -> None:
        await original(self)
        finished.append(1)

    monkeypatch.setattr(Unfinished, "finish", counted)
    dana_actor = await create_account(sessionmaker, "dana@oem.test")
    async with live_server(db_url, tmp_path, INBOX_RUN_WORKERS="false") as srv:
        dana = await signed_in(srv, "dana@oem.test")
        paused = await websockets.connect(
            srv.url.replace("http", "ws") + "/ws",
            additional_headers={"cookie": dana.cookie},
            max_queue=1,
        )
        await paused.send('{"type": "hello", "after": 0}')
        assert '"ready"' in await paused.recv()
        fast = await Socket.open(srv.url, dana.cookie)
        await fast.until("ready")
        assert srv.services is not None
        big = {"text": "y" * 32_000}
        now = datetime.now(UTC)
        for seq in range(1, 601):  # about 19 MB: more than loopback's socket buffers hold
            await srv.services.hub.publish(
                [StoredEvent(dana_actor.id, seq, "queue.updated", big, now)]
            )
            if seq % 50 == 0:
                assert [(await fast.next())["seq"] for _ in range(50)] == list(
                    range(seq - 49, seq + 1)
                )
        got = [
            msgspec.json.decode(await asyncio.wait_for(paused.recv(), 10))["seq"]
            for _ in range(600)
        ]
        assert got == list(range(1, 601))
        assert finished, "no send ever had to wait: the test did not fill the client's buffer"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(paused.recv(), 0.5)  # and nothing twice
        await asyncio.gather(paused.close(), fast.close(), dana.close())


async def test_me_tells_a_fresh_tab_where_the_log_ends(
    server: LiveServer, sessionmaker: Maker
) -> None:
    dana = await signed_in(server, "dana@oem.test")
    cid = await new_conversation(dana)
    await dana.post(
        f"/api/conversations/{cid}/messages", json={"channel": "email", "body_text": "Hi"}
    )
    newest = (await dana_events(sessionmaker, 0))[-1]
    me = (await dana.http.get("/api/auth/me")).json()
    assert me["last_seq"] == newest
    ws = await Socket.open(server.url, dana.cookie, after=me["last_seq"])
    assert await ws.next() == {"type": "ready", "seq": newest}  # nothing to replay
    await asyncio.gather(ws.close(), dana.close())


async def test_a_tab_that_showed_nothing_closes_without_a_presence_frame(
    server: LiveServer,
) -> None:
    dana, sam = await signed_in(server, "dana@oem.test"), await signed_in(server, "sam@oem.test")
    cid = await new_conversation(dana)
    sam_ws = await Socket.open(server.url, sam.cookie, after=10**6)
    await sam_ws.until("ready")
    quiet = await Socket.open(server.url, dana.cookie, after=10**6)
    await quiet.until("ready")
    await quiet.close()  # never showed a conversation: nothing to clear
    shown = await Socket.open(server.url, dana.cookie, after=10**6)
    await shown.until("ready")
    await shown.send({"type": "presence", "conversation_id": cid, "composing": False})
    await shown.close()
    # Sam's next frames are the announced tab's presence and its clearing, nothing before them.
    first = await sam_ws.next()
    assert (first["type"], first["conversation_id"]) == ("presence.updated", cid)
    second = await sam_ws.next()
    assert (second["type"], second["tab"], second["conversation_id"]) == (
        "presence.updated",
        first["tab"],
        None,
    )
    await asyncio.gather(sam_ws.close(), dana.close(), sam.close())


class _FromANewerVersion(EventType, tag="lead.scored", frozen=True, kw_only=True):
    """An event type this server's frames do not list (as one logged by another version)."""

    lead_id: int


async def test_an_event_of_an_unknown_type_is_sent_live_and_on_replay_never_skipped(
    server: LiveServer, sessionmaker: Maker
) -> None:
    assert "lead.scored" not in EVENT_FRAMES
    dana = await signed_in(server, "dana@oem.test")
    async with sessionmaker() as s:
        dana_id = await s.scalar(sa.select(Account.id).where(Account.email == "dana@oem.test"))
    assert dana_id is not None and server.services is not None
    ws = await Socket.open(server.url, dana.cookie)
    ready = await ws.until("ready")
    async with server.services.transaction() as s:
        await record_event(s, [dana_id], _FromANewerVersion(lead_id=5))
        await record_event(s, [dana_id], ConversationUpdated(conversation_id=1, flagged=True))
    live = [await ws.next(), await ws.next()]
    assert [(f["type"], f["seq"]) for f in live] == [
        ("lead.scored", ready["seq"] + 1),
        ("conversation.updated", ready["seq"] + 2),
    ]
    assert live[0]["data"] == {"lead_id": 5}
    await ws.close()
    # A tab that resumes from before them gets both again, in order.
    ws = await Socket.open(server.url, dana.cookie, after=ready["seq"])
    replayed = [await ws.next(), await ws.next(), await ws.next()]
    assert [(f["type"], f.get("data")) for f in replayed] == [
        ("lead.scored", {"lead_id": 5}),
        ("conversation.updated", {"conversation_id": 1, "flagged": True}),
        ("ready", None),
    ]
    assert replayed[-1]["seq"] == ready["seq"] + 2
    await asyncio.gather(ws.close(), dana.close())
