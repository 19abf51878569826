"""Demo data for `inbox demo`: three accounts, fifty prospects of an outdoor-equipment maker,
their leads, and three weeks of email and SMS history, written through the domain use cases.

The history is written first with the clock as it is, then moved back in time in one
transaction, because the use cases stamp "now" and the demo must look lived-in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TextIO

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.accounts.models import Account, Role
from inbox.accounts.schemas import AccountCreate
from inbox.accounts.service import do_create_account
from inbox.contacts.models import PhoneKind, Prospect, ProspectKind
from inbox.contacts.prospects import do_create_prospect
from inbox.contacts.schemas import PhoneInput
from inbox.contacts.schemas import ProspectCreate as ProspectData
from inbox.conversations.messages import do_record_inbound
from inbox.conversations.models import Channel, Conversation, DeliveryStatus, Direction, Message
from inbox.conversations.schemas import MessageCreate
from inbox.conversations.sending import do_send_message
from inbox.conversations.service import do_mark_read, do_set_flag
from inbox.core.access import Actor
from inbox.core.model import utcnow
from inbox.email.schemas import InboundMessage
from inbox.leads.models import Lead
from inbox.leads.schemas import LeadCreate
from inbox.leads.service import do_add_lead
from inbox.notifications.models import Notification
from inbox.outbox.models import OutboxJob, OutboxState
from inbox.sms.consent import do_record_consent
from inbox.sms.models import SmsConsent
from server.app import ensure_schema
from server.demo_data import (
    BOUNCE,
    DEMO_ACCOUNTS,
    FIRST_EMAIL,
    FIRST_NAMES,
    FIRST_SMS,
    HISTORY,
    LAST_NAMES,
    LEAD_TYPES,
    NOT_READY,
    OEM,
    PRODUCTS,
    QUESTIONS,
    REGIONS,
    SCENARIOS,
    SEED,
    SOURCES,
    TIMEFRAMES,
    WRAP_UP,
)
from server.services import Services, build_services
from server.settings import Settings


@dataclass
class Step:
    direction: Direction
    channel: Channel
    text: str
    subject: str = ""
    at: datetime | None = None


@dataclass
class Plan:
    """One prospect's story, decided before anything is written."""

    prospect: ProspectData
    lead: LeadCreate
    lead_at: datetime
    cmu: int  # index into DEMO_ACCOUNTS
    scenario: str
    steps: list[Step] = field(default_factory=list)
    late_lead: LeadCreate | None = None
    late_lead_at: datetime | None = None
    flagged: bool = False


def valid_phone(rng: random.Random, area_code: str) -> str:
    """A US number that `phonenumbers` accepts, so it passes the domain's validation."""
    while True:
        exchange = rng.randint(201, 989)
        if exchange % 100 == 11 or exchange == 555:
            continue  # N11 codes and 555 are not ordinary subscriber exchanges
        number = f"+1{area_code}{exchange}{rng.randint(0, 9999):04d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            return number


def _email_of(rng: random.Random, first: str, last: str) -> str:
    first, last = first.lower(), last.lower().replace("'", "")
    domain = rng.choice(("example.com", "example.net", "example.org"))
    local = rng.choice(
        (f"{first}.{last}", f"{first[0]}{last}", f"{first}{last}{rng.randint(10, 99)}")
    )
    return f"{local}@{domain}"


def _prospect(
    rng: random.Random, first: str, last: str, needs_mobile: bool
) -> tuple[ProspectData, str]:
    _, area_codes, postal_codes, dealer = rng.choice(REGIONS)
    product = rng.choice(PRODUCTS)[0]
    phones = []
    if needs_mobile or rng.random() < 0.7:
        phones.append(
            PhoneInput(kind=PhoneKind.MOBILE, number=valid_phone(rng, rng.choice(area_codes)))
        )
    if rng.random() < 0.3:
        phones.append(PhoneInput(kind=PhoneKind.HOME, number=valid_phone(rng, area_codes[0])))
    emails = [_email_of(rng, first, last)]
    if rng.random() < 0.15:
        emails.append(f"{first.lower()}@{last.lower().replace(chr(39), '')}-farm.example.com")
    kind = ProspectKind.CUSTOMER if rng.random() < 0.2 else ProspectKind.PROSPECT
    data = ProspectData(
        first_name=first,
        last_name=last,
        emails=emails,
        phones=phones,
        postal_code=rng.choice(postal_codes),
        product_of_interest=product,
        kind=kind,
    )
    return data, dealer


def _lead(rng: random.Random, category: str, dealer: str) -> LeadCreate:
    lead_type = rng.choice(LEAD_TYPES)
    source = "Boat show" if category == "Boats" and rng.random() < 0.5 else rng.choice(SOURCES)
    return LeadCreate(
        lead_type=lead_type,
        source=source,
        category=category,
        purchase_timeframe=rng.choice(TIMEFRAMES),
        dealer=dealer,
    )


def _timeline(rng: random.Random, plan: Plan, now: datetime) -> None:
    """Lead time and message times: answers come within hours, prospects take longer."""
    gaps = []
    for i, step in enumerate(plan.steps):
        if i == 0:
            gaps.append(timedelta(minutes=rng.uniform(15, 300)))
        elif step.direction is Direction.INBOUND:
            gaps.append(timedelta(hours=rng.uniform(1, 40)))
        else:
            gaps.append(timedelta(minutes=rng.uniform(5, 300)))
    span = sum(gaps, timedelta())
    fresh = plan.scenario.startswith("needs_reply") or plan.scenario == "untouched"
    ago = timedelta(days=rng.uniform(0.05, 4) if fresh else rng.uniform(0.5, 17))
    ago = min(max(ago, timedelta(minutes=10)), HISTORY - span)
    at = plan.lead_at = now - ago - span
    for step, gap in zip(plan.steps, gaps, strict=True):
        at = step.at = at + gap
    if plan.late_lead is not None:
        plan.late_lead_at = at + (now - at) * rng.uniform(0.3, 0.9)


def _texts(plan: Plan, dealer: str, short: str) -> None:
    category = plan.lead.category
    ask, answer, ask_sms, answer_sms = QUESTIONS[category]
    subject, first_email = FIRST_EMAIL[plan.lead.lead_type]
    texts = {
        "ask": f"Hi {{cmu_first}},\n\n{ask}\n\nThanks,\n{{first}}",
        "answer": f"Hi {{first}},\n\n{answer}\n\nWould a weekday or Saturday work better to see it?",
        "ask_sms": ask_sms,
        "answer_sms": answer_sms,
        "wrap_in": WRAP_UP[0],
        "wrap_out": WRAP_UP[1],
        "not_ready_in": f"Hi {{cmu_first}},\n\n{NOT_READY[0]}\n\n{{first}}",
        "not_ready_out": f"Hi {{first}},\n\n{NOT_READY[1]}",
    }
    cmu = DEMO_ACCOUNTS[plan.cmu]
    values = {
        "first": plan.prospect.first_name,
        "cmu_first": cmu.name.split()[0],
        "product": plan.prospect.product_of_interest,
        "short": short,
        "dealer": dealer,
    }
    for step in plan.steps:
        if step.text == "first" and step.channel is Channel.EMAIL:
            step.subject = subject.format(**values)
            body = f"Hi {{first}},\n\n{first_email}\n\nBest,\n{cmu.name}\n{OEM} Customer Care"
        elif step.text == "first":
            body = FIRST_SMS
        else:
            body = texts[step.text]
        step.text = body.format(**values)


def build_plans(now: datetime, seed: int = SEED) -> list[Plan]:
    """Every prospect's story, from a seeded random generator: the same data on every run."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    names = list(zip(rng.sample(FIRST_NAMES, 50), rng.sample(LAST_NAMES, 50), strict=True))
    shorts = {product: short for product, short, _ in PRODUCTS}
    plans: list[Plan] = []
    for scenario, count, steps in SCENARIOS:
        for _ in range(count):
            first, last = names[len(plans)]
            needs_mobile = any(channel is Channel.SMS for _, channel, _ in steps)
            data, dealer = _prospect(rng, first, last, needs_mobile)
            category = next(c for p, _, c in PRODUCTS if p == data.product_of_interest)
            plan = Plan(
                prospect=data,
                lead=_lead(rng, category, dealer),
                lead_at=now,
                cmu=rng.randrange(2),
                scenario=scenario,
                steps=[Step(d, c, key) for d, c, key in steps],
            )
            if steps and rng.random() < 0.15:
                plan.late_lead = _lead(rng, category, dealer)
            plan.flagged = bool(steps) and rng.random() < 0.15
            _texts(plan, dealer, shorts[data.product_of_interest])
            _timeline(rng, plan, now)
            plans.append(plan)
    return plans


@dataclass
class Written:
    """What the seeding wrote, for moving it back in time afterwards."""

    message_times: dict[int, datetime] = field(default_factory=dict)
    outbound: dict[int, Channel] = field(default_factory=dict)
    lead_times: dict[int, datetime] = field(default_factory=dict)
    prospect_times: dict[int, datetime] = field(default_factory=dict)
    bounced: dict[int, str] = field(default_factory=dict)  # message id -> delivery error
    unread_conversations: set[int] = field(default_factory=set)
    conversations: list[tuple[int, int, bool]] = field(default_factory=list)  # id, cmu, flagged


async def _create_accounts(services: Services) -> list[Actor]:
    actors = []
    async with services.transaction() as session:
        for account in DEMO_ACCOUNTS:
            created = await do_create_account(
                session,
                None,
                AccountCreate(
                    email=account.email,
                    name=account.name,
                    role=account.role,
                    password=account.password,
                ),
            )
            actors.append(
                Actor(id=created.id, role=created.role, name=created.name, email=created.email)
            )
    return actors


async def _inbound(
    session: AsyncSession, conversation_id: int, plan: Plan, step: Step, n: int, reply_to: str
) -> int:
    prospect = plan.prospect
    email = step.channel is Channel.EMAIL
    subject = plan.steps[0].subject if plan.steps[0].channel is Channel.EMAIL else ""
    inbound = InboundMessage(
        channel=step.channel,
        from_address=prospect.emails[0] if email else prospect.phones[0].number,
        from_name=f"{prospect.first_name} {prospect.last_name}",
        subject=f"Re: {subject}" if email and subject else "",
        body_text=step.text,
        to=(DEMO_ACCOUNTS[plan.cmu].email,) if email else (),
        message_id_header=f"<demo-{conversation_id}-{n}@{prospect.emails[0].split('@')[1]}>"
        if email
        else None,
        in_reply_to=reply_to if email else "",
        references=reply_to if email else "",
        external_id=None if email else f"demo-sms-{conversation_id}-{n}",
    )
    message = await do_record_inbound(session, conversation_id, inbound, thread_rule="demo")
    assert message is not None
    return message.id


async def _write_plan(
    services: Services, plan: Plan, actors: list[Actor], written: Written
) -> None:
    actor = actors[plan.cmu]
    region = services.settings.phone_region
    async with services.transaction() as session:
        prospect = await do_create_prospect(session, actor, plan.prospect, region=region)
        if any(step.channel is Channel.SMS for step in plan.steps):
            # The demo's texters agreed to texts on the lead form; the others stay grey.
            await do_record_consent(
                session, [prospect.id], SmsConsent.OPTED_IN, source="demo", detail="lead form"
            )
        conversation_id = prospect.conversation_id
        lead = await do_add_lead(session, actor, prospect.id, plan.lead)
        written.lead_times[lead.id] = plan.lead_at
        written.prospect_times[prospect.id] = plan.lead_at
        reply_to = ""
        message_id = 0
        for n, step in enumerate(plan.steps):
            assert step.at is not None
            if step.direction is Direction.OUTBOUND:
                data = MessageCreate(
                    channel=step.channel, body_text=step.text, subject=step.subject
                )
                sent = await do_send_message(
                    session, actor, conversation_id, data, context=services.send_context
                )
                message_id = sent.id
                written.outbound[message_id] = step.channel
                if step.channel is Channel.EMAIL:
                    reply_to = (
                        await session.scalar(
                            sa.select(Message.message_id_header).where(Message.id == message_id)
                        )
                        or ""
                    )
            else:
                message_id = await _inbound(session, conversation_id, plan, step, n, reply_to)
            written.message_times[message_id] = step.at
        if plan.late_lead is not None and plan.late_lead_at is not None:
            late = await do_add_lead(session, actor, prospect.id, plan.late_lead)
            written.lead_times[late.id] = plan.late_lead_at
    if plan.scenario == "bounced":
        written.bounced[message_id] = BOUNCE.format(email=plan.prospect.emails[0])
    if plan.steps:
        written.conversations.append((conversation_id, plan.cmu, plan.flagged))
        last = plan.steps[-1]
        assert last.at is not None
        if last.direction is Direction.INBOUND and utcnow() - last.at < timedelta(days=2):
            written.unread_conversations.add(conversation_id)


async def _set_views(services: Services, actors: list[Actor], written: Written) -> None:
    """Flags, and read state: only replies from the last two days are still unread."""
    async with services.transaction() as session:
        for conversation_id, cmu, flagged in written.conversations:
            if flagged:
                await do_set_flag(session, actors[cmu], conversation_id, True)
            if conversation_id not in written.unread_conversations:
                for actor in actors:
                    await do_mark_read(session, actor, conversation_id)


async def _backdate(services: Services, written: Written) -> None:
    """Move the history into the past, and record the old sends as delivered back then, so the
    send queue does not deliver fifty old messages again when the app starts."""
    delivered = {Channel.EMAIL: DeliveryStatus.SENT, Channel.SMS: DeliveryStatus.DELIVERED}
    received: list[dict[str, object]] = []
    sent: list[dict[str, object]] = []
    for message_id, at in written.message_times.items():
        channel = written.outbound.get(message_id)
        if channel is None:
            received.append({"id": message_id, "created_at": at})
        elif message_id in written.bounced:
            error = written.bounced[message_id]
            sent.append(
                {
                    "id": message_id,
                    "created_at": at,
                    "status": DeliveryStatus.FAILED,
                    "sent_at": None,
                    "error": error,
                }
            )
        else:
            sent.append(
                {
                    "id": message_id,
                    "created_at": at,
                    "status": delivered[channel],
                    "sent_at": at + timedelta(seconds=3),
                    "error": "",
                }
            )
    async with services.transaction() as session:
        await session.execute(sa.update(Message), received)
        await session.execute(sa.update(Message), sent)
        await session.execute(
            sa.update(OutboxJob)
            .where(OutboxJob.message_id.in_(list(written.outbound)))
            .values(state=OutboxState.DONE, attempts=1)
        )
        for message_id, error in written.bounced.items():
            await session.execute(
                sa.update(OutboxJob)
                .where(OutboxJob.message_id == message_id)
                .values(state=OutboxState.FAILED, last_error=error)
            )
        await _backdate_rest(session, written)


async def _backdate_rest(session: AsyncSession, written: Written) -> None:
    await session.execute(
        sa.update(Lead), [{"id": i, "created_at": at} for i, at in written.lead_times.items()]
    )
    await session.execute(
        sa.update(Prospect),
        [{"id": i, "created_at": at, "updated_at": at} for i, at in written.prospect_times.items()],
    )
    message_time = (
        sa.select(Message.created_at).where(Message.id == OutboxJob.message_id).scalar_subquery()
    )
    await session.execute(
        sa.update(OutboxJob).values(created_at=message_time, next_attempt_at=message_time)
    )
    noted = (
        sa.select(Message.created_at).where(Message.id == Notification.message_id).scalar_subquery()
    )
    await session.execute(
        sa.update(Notification).where(Notification.message_id.is_not(None)).values(created_at=noted)
    )
    prospect_time = (
        sa.select(Prospect.created_at)
        .where(Prospect.id == Conversation.prospect_id)
        .scalar_subquery()
    )
    newest = (
        sa.select(sa.func.max(Message.created_at))
        .where(Message.conversation_id == Conversation.id)
        .scalar_subquery()
    )
    await session.execute(
        sa.update(Conversation).values(
            created_at=prospect_time, last_activity_at=sa.func.coalesce(newest, prospect_time)
        )
    )


def print_credentials(out: TextIO) -> None:
    out.write("Demo accounts (email / password):\n")
    for account in DEMO_ACCOUNTS:
        role = "admin" if account.role is Role.ADMIN else "contact manager"
        out.write(f"  {account.email:<24} {account.password:<18} {role}, {account.name}\n")
    out.flush()


async def seed_demo(settings: Settings, out: TextIO) -> None:
    """Make sure the schema exists; on a database without accounts, write the demo data.
    Always print the demo sign-ins."""
    services = build_services(settings)
    try:
        await ensure_schema(services)
        async with services.sessionmaker() as session:
            emails = set(await session.scalars(sa.select(Account.email)))
        if emails & {a.email for a in DEMO_ACCOUNTS}:
            out.write("Demo data is already in place.\n")
        elif emails:
            out.write(
                "The database already has accounts, so no demo data was added; the demo "
                "sign-ins below only work on a database the demo seeded.\n"
            )
        else:
            await _seed(services)
            out.write("Seeded demo data: 3 accounts, 50 prospects, 3 weeks of conversations.\n")
        print_credentials(out)
    finally:
        await services.engine.dispose()


async def _seed(services: Services) -> None:
    actors = await _create_accounts(services)
    written = Written()
    for plan in build_plans(utcnow()):
        await _write_plan(services, plan, actors, written)
    await _set_views(services, actors, written)
    await _backdate(services, written)
