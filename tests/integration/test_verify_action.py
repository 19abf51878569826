"""Events are enough to follow the state, in the spirit of Zulip's `verify_action`.

For each action: a client loads its state (what the web app fetches over HTTP: the conversation
list and counts, the open thread, notifications, the task grid, the queues, the prospect's leads
and SMS status), the action runs, the client applies the events the action logged for it (read
back from the event log, as a reconnecting socket would replay them) with `Client.apply`, a
small Python model of what `web/app.js` does with each type, and the result must equal the
state loaded afresh. An event that forgets a field the thread shows (`message.updated` without
`recipients`), or a change that logs no event, fails here.

The model applies in place what an event carries (a message's delivery state, a conversation's
flags, a notification) and refetches what the web app refetches on that event (the counts, the
task grid, the queues, a prospect's leads and SMS status): a part is only refetched when an
event names it, so a change that announces nothing leaves it stale and the test fails.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.contacts.models import PhoneKind
from inbox.contacts.prospects import do_create_prospect
from inbox.contacts.schemas import PhoneInput, ProspectCreate
from inbox.conversations.messages import SendContext, do_record_inbound
from inbox.conversations.models import Channel, DeliveryStatus, Message
from inbox.conversations.schemas import MessageCreate
from inbox.conversations.sending import do_send_message
from inbox.conversations.service import (
    count_conversations,
    do_assign,
    do_mark_read,
    do_set_flag,
    get_thread,
    list_conversations,
)
from inbox.core.access import Actor
from inbox.core.ports import (
    DeliveryLookup,
    DeliveryReceipt,
    OutboundEnvelope,
    PermanentDeliveryError,
    RecipientResult,
)
from inbox.email.bounces import do_record_bounce
from inbox.email.schemas import BounceRecipient, BounceReport, InboundMessage
from inbox.events.log import MemoryPublisher, current_seq, list_events_after
from inbox.events.types import EVENT_TYPES
from inbox.leads.models import FollowUpStatus
from inbox.leads.schemas import LeadCreate
from inbox.leads.service import do_add_lead, list_leads
from inbox.notifications.service import (
    count_unread,
    do_mark_notification_read,
    list_notifications,
)
from inbox.outbox.models import RecipientStatus
from inbox.outbox.queue import Sender
from inbox.queues.service import (
    LeadStatusChange,
    QueueCreate,
    do_create_queue,
    do_set_follow_up_status,
    list_queues,
)
from inbox.sms.consent import ConsentUpdate, do_set_consent, get_sms_status
from inbox.sms.messages import SmsStatusReport, do_record_sms_status
from inbox.sms.models import SmsConsent
from inbox.tasks.service import (
    TaskCreate,
    TaskFilter,
    do_complete_task,
    do_create_task,
    list_tasks,
)
from tests.support.clock import FakeClock

Maker = async_sessionmaker[AsyncSession]
NOW = datetime.now(UTC).replace(microsecond=0)


def plain(value: Any) -> Any:
    return msgspec.to_builtins(value)


class Channel_:
    """Delivers, or refuses as told; returns the provider's id."""

    def __init__(self) -> None:
        self.refuse: PermanentDeliveryError | None = None

    async def deliver(self, envelope: OutboundEnvelope) -> DeliveryReceipt:
        await asyncio.sleep(0)
        if self.refuse is not None:
            raise self.refuse
        return DeliveryReceipt(external_id=f"ext-{envelope.message_id}")

    async def find_delivery(self, idempotency_key: str) -> DeliveryReceipt | DeliveryLookup:
        return DeliveryLookup.NOT_DELIVERED


@dataclass
class World:
    maker: Maker
    me: Actor
    other: Actor
    prospect_id: int
    conversation_id: int
    lead_id: int
    channel: Channel_

    async def send(self, channel: Channel = Channel.EMAIL, **fields: Any) -> int:
        async with self.maker() as s:
            message = await do_send_message(
                s,
                self.other,
                self.conversation_id,
                MessageCreate(channel=channel, body_text="Hello", **fields),
                context=SendContext(email_domain="inbox.test"),
            )
            await s.commit()
        return message.id

    async def deliver(self) -> None:
        sender = Sender(
            self.maker,
            {Channel.EMAIL: self.channel, Channel.SMS: self.channel},
            MemoryPublisher(),
            FakeClock(datetime.now(UTC) + timedelta(seconds=1)),  # every queued job is due
            "w1",
        )
        await sender.run_once()


class Client:
    """What web/app.js keeps, and what it does with each event."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.state: dict[str, Any] = {}

    async def load(self, *parts: str) -> dict[str, Any]:
        w, me = self.world, self.world.me
        loaders: dict[str, Callable[[AsyncSession], Awaitable[Any]]] = {
            "counts": lambda s: count_conversations(s, me),
            "list": lambda s: list_conversations(s, me, "all"),
            "thread": lambda s: get_thread(s, me, w.conversation_id),
            "notifications": lambda s: list_notifications(s, me),
            "unread": lambda s: count_unread(s, me),
            "tasks": lambda s: list_tasks(s, me, TaskFilter(status="all", any_assignee=True), NOW),
            "queues": lambda s: list_queues(s, me),
            "leads": lambda s: list_leads(s, me, w.prospect_id),
            "sms": lambda s: get_sms_status(s, me, w.prospect_id),
        }
        out = {}
        async with w.maker() as s:
            for part in parts or tuple(loaders):
                value = plain(await loaders[part](s))
                if isinstance(value, dict):
                    value.pop("seq", None)  # the snapshot's sequence, not state
                    if part == "list":
                        value = value["items"]
                out[part] = value
        return out

    async def apply(self, type_: str, data: dict[str, Any]) -> None:
        handler = getattr(self, "on_" + type_.replace(".", "_"), None)
        assert handler is not None, f"the model does not know {type_}"
        await handler(data)

    async def on_message_created(self, data: dict[str, Any]) -> None:
        self.state.update(await self.load("counts", "list"))
        if data["conversation_id"] == self.world.conversation_id:
            self.state.update(await self.load("thread"))

    async def on_message_updated(self, data: dict[str, Any]) -> None:
        for m in self.state["thread"]["messages"]:
            if m["id"] == data["message_id"]:
                m["status"], m["error"] = data["status"], data["error"]
                m["sent_at"] = data["sent_at"]
                m["recipient_outcomes"] = data["recipients"]

    async def on_conversation_updated(self, data: dict[str, Any]) -> None:
        self.state.update(await self.load("counts"))
        thread = self.state["thread"]
        summaries = [c for c in self.state["list"] if c["id"] == data["conversation_id"]]
        if thread["conversation"]["id"] == data["conversation_id"]:
            summaries.append(thread["conversation"])
        for summary in summaries:
            for key in ("needs_reply", "replied", "assignee_id", "flagged", "unread"):
                if key in data:
                    summary[key] = data[key]

    async def on_notification_created(self, data: dict[str, Any]) -> None:
        note = data["notification"]
        self.state["notifications"].insert(0, note)
        self.state["unread"] += not note["read"]

    async def on_notification_read(self, data: dict[str, Any]) -> None:
        for note in self.state["notifications"]:
            if note["id"] == data["notification_id"]:
                note["read"] = True
        self.state["unread"] = data["unread_count"]

    async def on_queue_updated(self, data: dict[str, Any]) -> None:
        self.state.update(await self.load("queues"))
        if self.world.prospect_id in (data.get("prospect_id"), *data.get("prospect_ids", [])):
            self.state.update(await self.load("leads"))

    async def on_task_updated(self, data: dict[str, Any]) -> None:
        self.state.update(await self.load("tasks"))
        thread = self.state["thread"]
        if data["prospect_id"] == thread["prospect"]["id"]:  # the side panel's task count
            thread["prospect"] = (await self.load("thread"))["thread"]["prospect"]

    async def on_prospect_updated(self, data: dict[str, Any]) -> None:
        if data["prospect_id"] == self.world.prospect_id:
            self.state.update(await self.load("sms"))


Action = Callable[[World], Awaitable[None]]


async def _send_email(w: World) -> None:
    await w.send(cc=["cc@example.com"])


async def _deliver_email(w: World) -> None:
    await w.send(cc=["cc@example.com"], bcc=["bcc@example.com"])
    await w.deliver()


async def _refuse_email(w: World) -> None:
    await w.send(cc=["cc@example.com"])
    w.channel.refuse = PermanentDeliveryError(
        "550 no such user",
        recipients=(RecipientResult("cc@example.com", RecipientStatus.FAILED, "550 no such user"),),
    )
    await w.deliver()


async def _bounce(w: World) -> None:
    message_id = await w.send(cc=["cc@example.com"])
    await w.deliver()
    async with w.maker() as s:
        message = await s.get(Message, message_id)
        assert message is not None
        header = message.message_id_header
    async with w.maker() as s:
        report = BounceReport(
            original_message_id=header or "",
            recipients=(
                BounceRecipient(address="cc@example.com", action="failed", status="5.1.1"),
            ),
        )
        await do_record_bounce(s, report)
        await s.commit()


async def _sms_status(w: World) -> None:
    async with w.maker() as s:
        await do_set_consent(s, w.other, w.prospect_id, ConsentUpdate(consent=SmsConsent.OPTED_IN))
        await s.commit()
    message_id = await w.send(Channel.SMS)
    await w.deliver()
    async with w.maker() as s:
        report = SmsStatusReport(sid=f"ext-{message_id}", status=DeliveryStatus.DELIVERED)
        assert await do_record_sms_status(s, report)
        await s.commit()


async def _inbound(w: World) -> None:
    async with w.maker() as s:
        inbound = InboundMessage(
            channel=Channel.EMAIL, from_address="pat@example.com", body_text="Any news?"
        )
        await do_record_inbound(s, w.conversation_id, inbound, thread_rule="test")
        await s.commit()


async def _flag(w: World) -> None:
    async with w.maker() as s:
        await do_set_flag(s, w.me, w.conversation_id, True)
        await s.commit()


async def _read(w: World) -> None:
    await _inbound(w)
    async with w.maker() as s:
        await do_mark_read(s, w.me, w.conversation_id)
        await s.commit()


async def _assign(w: World) -> None:
    async with w.maker() as s:
        await do_assign(s, w.other, w.conversation_id, w.me.id)
        await s.commit()


async def _read_notification(w: World) -> None:
    await _inbound(w)
    async with w.maker() as s:
        (note, *_) = await list_notifications(s, w.me)
        await do_mark_notification_read(s, w.me, note.id)
        await s.commit()


async def _lead(w: World) -> None:
    async with w.maker() as s:
        await do_add_lead(s, w.other, w.prospect_id, LeadCreate(lead_type="Test drive"))
        await s.commit()


async def _lead_status(w: World) -> None:
    async with w.maker() as s:
        change = LeadStatusChange(
            lead_ids=[w.lead_id], follow_up_status=FollowUpStatus.APPOINTMENT_SET
        )
        await do_set_follow_up_status(s, w.other, change)
        await s.commit()


async def _queue(w: World) -> None:
    async with w.maker() as s:
        await do_create_queue(s, w.me, QueueCreate(name="Mine"))
        await s.commit()


async def _tasks(w: World) -> None:
    async with w.maker() as s:
        data = TaskCreate(prospect_id=w.prospect_id, description="Call", due_at=NOW + timedelta(1))
        task = await do_create_task(s, w.other, data, NOW)
        await s.commit()
    async with w.maker() as s:
        await do_complete_task(s, w.other, task.id, NOW)
        await s.commit()


async def _consent(w: World) -> None:
    async with w.maker() as s:
        await do_set_consent(s, w.other, w.prospect_id, ConsentUpdate(consent=SmsConsent.OPTED_OUT))
        await s.commit()


# Each case: the action and the event types it must log for the observer.
CASES: dict[str, tuple[Action, set[str]]] = {
    "send an email": (_send_email, {"message.created", "conversation.updated", "queue.updated"}),
    "email delivered (outbox)": (_deliver_email, {"message.updated"}),
    "email refused (outbox)": (_refuse_email, {"message.updated"}),
    "email bounced": (_bounce, {"message.updated"}),
    "text delivered (provider report)": (_sms_status, {"message.updated", "prospect.updated"}),
    "reply received": (
        _inbound,
        {"message.created", "conversation.updated", "notification.created"},
    ),
    "flag": (_flag, {"conversation.updated"}),
    "mark read": (_read, {"conversation.updated"}),
    "assign": (_assign, {"conversation.updated"}),
    "read a notification": (_read_notification, {"notification.read"}),
    "add a lead": (_lead, {"queue.updated"}),
    "bulk follow-up status": (_lead_status, {"queue.updated"}),
    "save a queue": (_queue, {"queue.updated"}),
    "create and complete a task": (_tasks, {"task.updated"}),
    "opt out of texts": (_consent, {"prospect.updated"}),
}


def test_every_event_type_has_a_case() -> None:
    covered = set().union(*(types for _, types in CASES.values()))
    assert {cls.type_name() for cls in EVENT_TYPES} <= covered


async def _world(maker: Maker, me: Actor, other: Actor) -> World:
    async with maker() as s:
        prospect = await do_create_prospect(
            s,
            other,
            ProspectCreate(
                first_name="Pat",
                emails=["pat@example.com"],
                phones=[PhoneInput(kind=PhoneKind.MOBILE, number="+14155550123")],
            ),
            region="US",
        )
        lead = await do_add_lead(s, other, prospect.id, LeadCreate(lead_type="Brochure"))
        first = InboundMessage(
            channel=Channel.EMAIL, from_address="pat@example.com", body_text="Hi"
        )
        await do_record_inbound(s, prospect.conversation_id, first, thread_rule="test")
        await s.commit()
    return World(maker, me, other, prospect.id, prospect.conversation_id, lead.id, Channel_())


@pytest.mark.parametrize("case", list(CASES))
async def test_applying_the_events_of_an_action_gives_the_state_loaded_after_it(
    sessionmaker: Maker, cmu: Actor, admin: Actor, case: str
) -> None:
    action, expected_types = CASES[case]
    world = await _world(sessionmaker, cmu, admin)
    client = Client(world)
    async with sessionmaker() as s:
        after = await current_seq(s, cmu.id)
    client.state = await client.load()
    before = copy.deepcopy(client.state)
    await action(world)
    async with sessionmaker() as s:
        events = await list_events_after(s, cmu.id, after)
    assert {e.type for e in events} >= expected_types
    for event in events:
        await client.apply(event.type, plain(event.payload))
    fresh = await client.load()
    for part, value in fresh.items():
        assert client.state[part] == value, f"{part} differs"
    assert before != fresh  # the action changed something the client shows
