"""The event contract: one frozen struct per event type, and `InboxEvent`, the union of them.

A use case builds one of these and hands it to `record_event`; the stored payload is the
struct's encoding without its tag, and the tag is the event's `type`. The websocket frames
(`server/realtime/frames.py`) and the README's event table (`event_table`) come from these
classes, so what is sent, what is documented and what is built cannot drift apart.

Fields a client reads only when present are `UNSET` by default and left out of the payload
(`conversation.updated` names only what changed). Adding a field is compatible: events logged
before it replay as they were stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal, get_args

import msgspec
from msgspec import UNSET, UnsetType

from inbox.conversations.models import DeliveryStatus
from inbox.leads.models import FollowUpStatus
from inbox.notifications.schemas import NotificationRead
from inbox.outbox.deliveries import RecipientOutcomeRead

STAFF = "every contact manager and admin"


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """The base of every event: `audience` and `about` are the README's words for it. A
    subclass says `frozen=True, kw_only=True` again (msgspec does not inherit `kw_only`, and
    type checkers want both spelt out)."""

    audience: ClassVar[str]
    about: ClassVar[str] = ""

    @classmethod
    def type_name(cls) -> str:
        tag = cls.__struct_config__.tag
        assert isinstance(tag, str)
        return tag

    def payload(self) -> dict[str, object]:
        """What is stored and sent as the frame's `data`: the fields, without the tag."""
        data: dict[str, object] = msgspec.to_builtins(self)
        del data["type"]
        return data


class MessageCreated(Event, tag="message.created", frozen=True, kw_only=True):
    audience: ClassVar[str] = STAFF

    conversation_id: int
    message_id: int


class MessageUpdated(Event, tag="message.updated", frozen=True, kw_only=True):
    audience: ClassVar[str] = STAFF
    about: ClassVar[str] = (
        "The message's delivery state as the thread shows it; `recipients` are all its "
        "recipients' outcomes (`address`, `kind` to/cc/bcc, `status` sent/deferred/failed, "
        "`detail`, the server's reply, `updated_at`), as `recipient_outcomes` in the thread"
    )

    conversation_id: int
    message_id: int
    status: DeliveryStatus
    error: str
    sent_at: datetime | None
    recipients: list[RecipientOutcomeRead]


class ConversationUpdated(Event, tag="conversation.updated", frozen=True, kw_only=True):
    audience: ClassVar[str] = "everyone for shared state; only you for your flag and read state"

    conversation_id: int
    needs_reply: bool | UnsetType = UNSET
    replied: bool | UnsetType = UNSET
    assignee_id: int | UnsetType | None = UNSET
    last_message_id: int | UnsetType = UNSET
    flagged: bool | UnsetType = UNSET
    unread: bool | UnsetType = UNSET


class NotificationCreated(Event, tag="notification.created", frozen=True, kw_only=True):
    audience: ClassVar[str] = "the notification's owner"
    about: ClassVar[str] = "As in `GET /api/notifications`"

    notification: NotificationRead


class NotificationMarkedRead(Event, tag="notification.read", frozen=True, kw_only=True):
    audience: ClassVar[str] = "the owner"

    notification_id: int
    unread_count: int


QueueReason = Literal[
    "lead.created",
    "prospect.contacted",
    "status.changed",
    "queue.saved",
    "queue.deleted",
    "queues.ordered",
]


class QueueUpdated(Event, tag="queue.updated", frozen=True, kw_only=True):
    audience: ClassVar[str] = STAFF + "; for `queue.*` reasons, the view's owner only"
    about: ClassVar[str] = (
        "`reason` is `lead.created` (a lead added), `prospect.contacted` (an email or SMS turned "
        "the prospect's leads Contacted), `status.changed` (a bulk change, with "
        "`follow_up_status`; `prospect_id` is null when several prospects changed), or "
        "`queue.saved`, `queue.deleted` (with `queue_id`) and `queues.ordered` when the owner "
        "edits their saved views in another tab. Refetch `GET /api/queues` for the counts"
    )

    reason: QueueReason
    prospect_id: int | None = None
    prospect_ids: list[int] = []
    lead_ids: list[int] = []
    queue_id: int | UnsetType | None = UNSET
    follow_up_status: FollowUpStatus | UnsetType = UNSET


TaskChange = Literal["created", "updated", "completed", "reopened", "deleted", "overdue"]


class TaskUpdated(Event, tag="task.updated", frozen=True, kw_only=True):
    audience: ClassVar[str] = STAFF
    about: ClassVar[str] = (
        "`change` is `created`, `updated`, `completed`, `reopened`, `deleted` or `overdue` "
        "(from the scheduler, with the assignee's `task_overdue` notification)"
    )

    task_id: int
    prospect_id: int
    assignee_id: int | None
    status: str
    change: TaskChange


class ProspectUpdated(Event, tag="prospect.updated", frozen=True, kw_only=True):
    audience: ClassVar[str] = STAFF
    about: ClassVar[str] = "The SMS consent colour changed"

    prospect_id: int
    sms_status: str


InboxEvent = (
    MessageCreated
    | MessageUpdated
    | ConversationUpdated
    | NotificationCreated
    | NotificationMarkedRead
    | QueueUpdated
    | TaskUpdated
    | ProspectUpdated
)
EVENT_TYPES: tuple[type[Event], ...] = get_args(InboxEvent)
BY_TYPE: dict[str, type[Event]] = {cls.type_name(): cls for cls in EVENT_TYPES}


def event_table() -> str:
    """The README's table of event types, from the structs."""
    lines = ["| `type` | Sent to | `data` |", "|---|---|---|"]
    for cls in EVENT_TYPES:
        fields = msgspec.structs.fields(cls)
        data = ", ".join(f"`{f.name}`" for f in fields if f.default is not UNSET)
        optional = ", ".join(f"`{f.name}`" for f in fields if f.default is UNSET)
        if optional:
            data += f"; present when they apply: {optional}"
        if cls.about:
            data += f". {cls.about}"
        lines.append(f"| `{cls.type_name()}` | {cls.audience} | {data} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(event_table(), end="")
