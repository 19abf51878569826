"""Email composing: a send with attachments (multipart), and the composer's preview."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.conversations.schemas import MessageCreate, MessageRead
from inbox.conversations.sending import do_send_email_with_attachments
from inbox.core.access import Actor
from inbox.email.messages import EmailPreview, EmailPreviewRequest, Upload, get_email_preview
from inbox.errors import ValidationFailed
from server.api.params import Id
from server.input_guard import check_text, decode_checked
from server.problems import answers
from server.services import Services


async def _read_form(request: Request[Any, Any, Any]) -> tuple[MessageCreate, list[Upload]]:
    form = await request.form()
    raw = form.get("message")
    if not isinstance(raw, str):
        raise ValidationFailed.field("message", "a JSON message part is required")
    try:
        # The same checks as a JSON body (NUL, 64-bit integers, depth, dates), named in `message`.
        data = msgspec.convert(decode_checked(raw, "message"), type=MessageCreate)
    except msgspec.ValidationError as exc:
        raise ValidationFailed.field("message", str(exc)) from None
    except msgspec.DecodeError:
        raise ValidationFailed.field("message", "not valid JSON") from None
    uploads = []
    for part in form.getall("attachments", []):
        if not isinstance(part, UploadFile):
            raise ValidationFailed.field("attachments", "each attachment must be a file")
        check_text(part.filename, "attachments")
        check_text(part.content_type, "attachments")
        uploads.append(Upload(part.filename, part.content_type, await part.read()))
    return data, uploads


class EmailController(Controller):
    path = "/conversations"
    tags = ["conversations"]

    @post("/{conversation_id:int}/messages/multipart", status_code=202, opt=answers(409, 422))
    async def send_with_attachments(
        self,
        conversation_id: FromPath[Id],
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        services: NamedDependency[Services],
    ) -> MessageRead:
        """Queue an email with files: multipart/form-data with a `message` part (the JSON of
        `POST .../messages`) and any number of `attachments` file parts. 413 past the limit."""
        data, uploads = await _read_form(request)
        return await do_send_email_with_attachments(
            session,
            services.attachments,
            actor,
            conversation_id,
            data,
            uploads,
            context=services.send_context,
            max_bytes=services.settings.email.max_attachment_bytes,
        )

    @post("/{conversation_id:int}/email-preview", status_code=200)
    async def preview(
        self,
        conversation_id: FromPath[Id],
        data: JSONBody[EmailPreviewRequest],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> EmailPreview:
        """The email as it would go out now: sanitized HTML, plain text, the signature added."""
        return await get_email_preview(session, actor, conversation_id, data)
