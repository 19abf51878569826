"""End to end: a contact manager emails a prospect with a colleague of theirs in Cc; the Cc'd
person's reply, delivered by LMTP into a real Dovecot, is picked up by the app's own IMAP
watcher and shows up live, in the same thread, as theirs."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.conversations.models import Message, Participant
from inbox.email.reply_tokens import read_reply_token, token_in_address
from tests.conftest import create_account
from tests.support.dovecot import PASSWORD, Dovecot
from tests.support.live import Socket, User, live_server

Maker = async_sessionmaker[AsyncSession]
SECRET = "roundtrip-secret-key-0123456789abcdefghij"
REPLY_MAILBOX = "replies@oem.test"


def imap_env(dovecot: Dovecot, user: str) -> dict[str, str]:
    return {
        "INBOX_IMAP_HOST": "127.0.0.1",
        "INBOX_IMAP_PORT": str(dovecot.port),
        "INBOX_IMAP_USERNAME": user,
        "INBOX_IMAP_PASSWORD": PASSWORD,
        "INBOX_IMAP_TLS": "none",
        "INBOX_REPLY_ADDRESS": REPLY_MAILBOX,
        "INBOX_SECRET_KEY": SECRET,
    }


async def created_other_than(ws: Socket, known: int, timeout: float) -> dict[str, Any]:
    """The first message.created frame about a message other than `known`."""

    async def find() -> dict[str, Any]:
        while True:
            frame = await ws.until("message.created", timeout)
            if frame["data"]["message_id"] != known:
                return frame

    return await asyncio.wait_for(find(), timeout)


async def test_a_cc_reply_lands_live_in_the_thread_as_its_author(
    db_url: str, tmp_path: Path, sessionmaker: Maker, dovecot: Dovecot
) -> None:
    await create_account(sessionmaker, "dana@oem.test")
    mailbox = dovecot.add_user()
    async with live_server(db_url, tmp_path, **imap_env(dovecot, mailbox)) as server:
        dana = await User(server.url, "dana@oem.test").sign_in()
        prospect = await dana.post(
            "/api/prospects",
            json={"first_name": "Pat", "last_name": "Example", "emails": ["pat@example.com"]},
        )
        conversation_id = prospect["conversation_id"]
        sent = await dana.post(
            f"/api/conversations/{conversation_id}/messages",
            json={
                "channel": "email",
                "subject": "Your quote for the Model X",
                "body_text": "Hi Pat, here is your quote.",
                "cc": ["chris@partner.example"],
            },
        )
        async with sessionmaker() as s:
            outbound = await s.get(Message, sent["id"])
        assert outbound is not None and outbound.message_id_header
        token = token_in_address(REPLY_MAILBOX, outbound.reply_to)
        assert token and read_reply_token(SECRET, token) == conversation_id

        ws = await Socket.open(server.url, dana.cookie)
        await ws.until("ready")

        reply = EmailMessage()
        reply["From"] = "Chris Partner <chris@partner.example>"
        reply["To"] = f"Dana <{outbound.reply_to}>"
        reply["Cc"] = "Pat Example <pat@example.com>"
        reply["Subject"] = "RE: Your quote for the Model X"
        reply["Message-ID"] = "<chris-reply-1@partner.example>"
        reply["In-Reply-To"] = outbound.message_id_header
        reply["References"] = outbound.message_id_header
        reply.set_content(
            "Count me in for the financing talk.\n\nChris\n\n"
            "From: Dana <dana@oem.test>\nSent: Monday, November 23, 2026 9:30 AM\n"
            "Subject: Your quote for the Model X\n\nHi Pat, here is your quote.\n"
        )
        await asyncio.to_thread(dovecot.deliver, mailbox, reply)

        frame = await created_other_than(ws, sent["id"], timeout=10)
        assert frame["data"]["conversation_id"] == conversation_id
        response = await dana.http.get(f"/api/conversations/{conversation_id}")
        messages = {m["id"]: m for m in response.json()["messages"]}
        received = messages[frame["data"]["message_id"]]
        assert received["direction"] == "inbound"
        assert received["author_address"] == "chris@partner.example"
        assert received["author_name"] == "Chris Partner"
        assert received["thread_rule"] == "references"
        assert received["body_text"] == "Count me in for the financing talk.\n\nChris"
        assert "here is your quote" in received["body_text_full"]
        async with sessionmaker() as s:
            participants = list(
                await s.scalars(
                    sa.select(Participant.address).where(
                        Participant.conversation_id == conversation_id
                    )
                )
            )
        assert participants == ["chris@partner.example"]
        await ws.close()
        await dana.close()
