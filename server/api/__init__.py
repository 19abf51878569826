"""HTTP API under /api. Handlers parse, call one use case, return its plain value."""

from __future__ import annotations

from litestar import Router
from litestar.types import ControllerRouterHandler

from server.api.accounts import AccountController
from server.api.attachments import AttachmentController
from server.api.auth import AuthController
from server.api.conversations import ConversationController
from server.api.dashboard import DashboardController
from server.api.email import EmailController
from server.api.events import EventController
from server.api.me import MeController
from server.api.notifications import NotificationController
from server.api.prospects import ProspectController
from server.api.queues import LeadController, QueueController
from server.api.search import SearchController
from server.api.sms import DemoSmsController, ProspectSmsController, SmsController
from server.api.snippets import SnippetController
from server.api.suppressions import SuppressionController
from server.api.tasks import TaskController

HANDLERS: list[ControllerRouterHandler] = [
    AuthController,
    AccountController,
    ProspectController,
    ConversationController,
    NotificationController,
    EventController,
    AttachmentController,
    QueueController,
    LeadController,
    TaskController,
    SnippetController,
    DashboardController,
    SearchController,
    EmailController,
    MeController,
    SuppressionController,
    SmsController,
    ProspectSmsController,
    DemoSmsController,
]


def api_router() -> Router:
    return Router(path="/api", route_handlers=HANDLERS)
