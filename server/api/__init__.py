"""HTTP API under /api. Handlers parse, call one use case, return its plain value."""

from __future__ import annotations

from litestar import Router
from litestar.types import ControllerRouterHandler

from server.api.accounts import AccountController
from server.api.attachments import AttachmentController
from server.api.auth import AuthController
from server.api.conversations import ConversationController
from server.api.events import EventController
from server.api.notifications import NotificationController
from server.api.prospects import ProspectController

HANDLERS: list[ControllerRouterHandler] = [
    AuthController,
    AccountController,
    ProspectController,
    ConversationController,
    NotificationController,
    EventController,
    AttachmentController,
]


def api_router() -> Router:
    return Router(path="/api", route_handlers=HANDLERS)
