"""Attachments are kept once on disk, listed on their message, and downloaded safely."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from channels.storage import FileAttachmentStore
from inbox.conversations.attachments import do_add_attachment, safe_filename
from inbox.conversations.messages import do_record_inbound
from inbox.conversations.models import Channel
from inbox.email.schemas import InboundMessage
from server.app import create_app
from tests.conftest import create_account
from tests.integration.test_api import make_settings, sign_in


async def test_an_attachment_is_listed_and_downloaded_safely(
    db_url: str, tmp_path: Path, sessionmaker: Any
) -> None:
    settings = make_settings(db_url, tmp_path)
    store = FileAttachmentStore(settings.attachments_dir)
    await create_account(sessionmaker, "dana@oem.test")
    app = create_app(settings)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        headers = await sign_in(client, "dana@oem.test")
        prospect = (
            await client.post(
                "/api/prospects",
                headers=headers,
                json={"first_name": "Pat", "emails": ["pat@example.com"]},
            )
        ).json()
        async with sessionmaker() as s:
            message = await do_record_inbound(
                s,
                prospect["conversation_id"],
                InboundMessage(
                    channel=Channel.EMAIL, from_address="pat@example.com", body_text="see attached"
                ),
                thread_rule="test",
            )
            assert message is not None
            photo = await do_add_attachment(
                s, store, message.id, "../../boat.png", "image/png", b"\x89PNG fake"
            )
            page = await do_add_attachment(
                s, store, message.id, "quote.html", "text/html", b"<script>alert(1)</script>"
            )
            again = await do_add_attachment(
                s, store, message.id, "copy.png", "image/png", b"\x89PNG fake"
            )
            await s.commit()
        thread = (await client.get(f"/api/conversations/{prospect['conversation_id']}")).json()
        listed = thread["messages"][0]["attachments"]
        assert [(a["filename"], a["size"]) for a in listed] == [
            ("boat.png", 9),
            ("quote.html", 25),
            ("copy.png", 9),
        ]

        image = await client.get(f"/api/attachments/{photo.id}")
        assert image.content == b"\x89PNG fake"
        assert image.headers["content-type"] == "image/png"
        assert image.headers["content-disposition"] == 'inline; filename="boat.png"'
        html = await client.get(f"/api/attachments/{page.id}")
        assert html.headers["content-type"] == "application/octet-stream"
        assert html.headers["content-disposition"].startswith("attachment")
        assert "sandbox" in html.headers["content-security-policy"]
        assert (await client.get("/api/attachments/999")).status_code == 404
    files = [p for p in settings.attachments_dir.rglob("*") if p.is_file()]
    assert len(files) == 2, "identical bytes are stored once"
    assert again.id != photo.id


def test_filenames_lose_paths_and_control_characters() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\x\\report.pdf") == "report.pdf"
    assert safe_filename('evil"\x00name.txt') == "evilname.txt"
    assert safe_filename("...") == "attachment"
