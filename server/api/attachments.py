"""Attachment downloads. Only raster images may show inline; everything else downloads."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.conversations.attachments import get_attachment
from inbox.core.access import Actor
from server.api.params import Id
from server.services import Services

INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


class AttachmentController(Controller):
    path = "/attachments"
    tags = ["attachments"]

    @get("/{attachment_id:int}")
    async def download(
        self,
        attachment_id: FromPath[Id],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        services: NamedDependency[Services],
    ) -> Response[bytes]:
        """The attachment's bytes."""
        meta, data = await get_attachment(session, services.attachments, actor, attachment_id)
        inline = meta.content_type in INLINE_TYPES
        media_type = meta.content_type if inline else "application/octet-stream"
        disposition = "inline" if inline else "attachment"
        quoted = meta.filename.encode("ascii", "replace").decode().replace('"', "")
        return Response(
            data,
            media_type=media_type,
            headers={
                "Content-Disposition": f'{disposition}; filename="{quoted}"',
                "Cache-Control": "private, max-age=3600",
                "Content-Security-Policy": "default-src 'none'; sandbox",
            },
        )
