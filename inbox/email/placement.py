"""Where an inbound email belongs, and storing it there.

The rules, in order, each recorded on the message as `thread_rule`:

1. `references`: In-Reply-To / References name a message we hold (sent or received).
2. `reply_token`: our signed reply address (`replies+TOKEN@...`) is in To, Cc, Delivered-To
   or X-Original-To.
3. `known_address`: the sender is a prospect, or a participant of a conversation.
4. `new_prospect`: a stranger writing in first gets a prospect and a conversation.

A header match is not enough for a stranger to join someone else's conversation: a sender who is
neither that prospect nor known to the thread joins only when they wrote to the thread's reply
token or copied someone of the thread. Otherwise the later rules decide.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.contacts.models import ProspectEmail
from inbox.contacts.prospects import do_create_prospect_from_email, find_prospect_by_address
from inbox.conversations.attachments import AttachmentStore, do_add_attachment
from inbox.conversations.messages import do_record_inbound, do_record_inbound_many
from inbox.conversations.models import Channel, Conversation, Message, Participant
from inbox.conversations.schemas import MessageRead
from inbox.email.bounces import do_record_bounce
from inbox.email.reply_tokens import read_reply_token, token_in_address
from inbox.email.schemas import InboundMessage
from inbox.events.log import batch_cache

_RECENT_RECIPIENTS = 50
_MESSAGE_CONVERSATIONS = "threading.message_conversations"
_IN_THREAD = "threading.in_thread"
_CONVERSATIONS = "threading.conversations"
_LOOKED_UP = "threading.looked_up"  # Message-IDs whose conversation (or absence) is known
_MEMBERS = "threading.members"  # conversation id -> every prospect and participant address
_ADDRESSES = "threading.addresses"  # sender address -> conversation, for `known_address`


@dataclass(frozen=True, slots=True)
class ThreadingContext:
    """What threading needs from the installation: the key that signs reply tokens and the
    shared reply mailbox (empty when tokens are not in use)."""

    secret_key: str
    reply_address: str = ""


@dataclass(frozen=True, slots=True)
class Placement:
    conversation_id: int
    rule: str


class Unplaceable(Exception):
    """Mail that no rule can place (no sender address, or a bounce of nothing we sent)."""


def _ids(value: str) -> list[str]:
    return [v for v in value.split() if v.startswith("<") and v.endswith(">")]


def _known(session: AsyncSession, key: str) -> dict[Any, Any]:
    # What a batch of mail (see inbox.events.event_batch) has already found to exist: messages
    # never leave their conversation and nothing leaves a thread while mail is stored, so a
    # positive answer holds for the rest of the batch. Outside a batch nothing is remembered.
    cache = batch_cache(session)
    found: dict[Any, Any] = {} if cache is None else cache.setdefault(key, {})
    return found


async def _by_references(session: AsyncSession, inbound: InboundMessage) -> int | None:
    # In-Reply-To is the message answered; References run oldest first, so read them backwards.
    wanted = _ids(inbound.in_reply_to) + list(reversed(_ids(inbound.references)))
    wanted = [w for w in dict.fromkeys(wanted) if w != inbound.message_id_header]
    if not wanted:
        return None
    known = _known(session, _MESSAGE_CONVERSATIONS)
    if wanted[0] in known:
        return int(known[wanted[0]])  # the first choice exists: nothing else can win
    if all(w in _known(session, _LOOKED_UP) for w in wanted):
        return next((int(known[w]) for w in wanted if w in known), None)
    rows = await session.execute(
        sa.select(Message.message_id_header, Message.conversation_id).where(
            Message.message_id_header.in_(wanted)
        )
    )
    found = {header: conversation_id for header, conversation_id in rows.all()}
    known.update(found)
    return next((found[w] for w in wanted if w in found), None)


async def _by_token(
    session: AsyncSession, inbound: InboundMessage, context: ThreadingContext
) -> int | None:
    if not context.reply_address:
        return None
    for address in (*inbound.to, *inbound.cc, *inbound.delivered_to, *inbound.x_original_to):
        token = token_in_address(context.reply_address, address)
        conversation_id = read_reply_token(context.secret_key, token) if token else None
        if conversation_id is None:
            continue
        if await session.get(Conversation, conversation_id) is not None:
            return conversation_id
    return None


async def thread_addresses(session: AsyncSession, conversation_id: int) -> set[str]:
    """Everyone a conversation involves: the prospect's addresses, its participants, and whoever
    our recent emails in it were sent or copied to."""
    prospect_emails = await session.scalars(
        sa.select(ProspectEmail.email)
        .join(Conversation, Conversation.prospect_id == ProspectEmail.prospect_id)
        .where(Conversation.id == conversation_id)
    )
    participants = await session.scalars(
        sa.select(Participant.address).where(Participant.conversation_id == conversation_id)
    )
    recipients = await session.scalars(
        sa.select(Message.recipients)
        .where(Message.conversation_id == conversation_id, Message.channel == Channel.EMAIL)
        .order_by(Message.id.desc())
        .limit(_RECENT_RECIPIENTS)
    )
    known = {*prospect_emails, *participants}
    for entry in recipients:
        for field in ("to", "cc", "bcc"):
            known.update(a.lower() for a in (entry or {}).get(field, []))
    return known


async def _in_thread(session: AsyncSession, conversation_id: int, address: str) -> bool:
    """Whether the address is the conversation's prospect's or one of its participants'."""
    known = _known(session, _IN_THREAD)
    if (conversation_id, address) in known:
        return True
    members = _known(session, _MEMBERS).get(conversation_id)
    if members is not None:
        return address in members
    prospect = (
        sa.select(ProspectEmail.id)
        .join(Conversation, Conversation.prospect_id == ProspectEmail.prospect_id)
        .where(Conversation.id == conversation_id, ProspectEmail.email == address)
    )
    participant = sa.select(Participant.id).where(
        Participant.conversation_id == conversation_id, Participant.address == address
    )
    found = await session.scalar(sa.select(sa.exists(prospect.union_all(participant).subquery())))
    if found:
        known[(conversation_id, address)] = True
    return bool(found)


async def _may_join(
    session: AsyncSession, conversation_id: int, inbound: InboundMessage, token_id: int | None
) -> bool:
    if token_id == conversation_id:
        return True
    if await _in_thread(session, conversation_id, inbound.from_address):
        return True  # the common case, in one query
    known = await thread_addresses(session, conversation_id)
    return inbound.from_address in known or any(a in known for a in (*inbound.to, *inbound.cc))


async def _by_address(session: AsyncSession, address: str) -> int | None:
    known = _known(session, _ADDRESSES)
    if address in known:
        return int(known[address])
    prospect_id = await find_prospect_by_address(session, address)
    if prospect_id is not None:
        return await session.scalar(
            sa.select(Conversation.id).where(Conversation.prospect_id == prospect_id)
        )
    return await session.scalar(
        sa.select(Participant.conversation_id)
        .where(Participant.address == address)
        .order_by(Participant.id.desc())
        .limit(1)
    )


async def find_placement(
    session: AsyncSession, inbound: InboundMessage, context: ThreadingContext
) -> Placement | None:
    """The conversation an inbound email belongs to and the rule that says so; None when it
    comes from a stranger (who then gets a prospect of their own)."""
    token_id = await _by_token(session, inbound, context)
    referenced = await _by_references(session, inbound)
    if referenced is not None and await _may_join(session, referenced, inbound, token_id):
        return Placement(referenced, "references")
    if token_id is not None:
        return Placement(token_id, "reply_token")
    if inbound.from_address:
        known = await _by_address(session, inbound.from_address)
        if known is not None:
            return Placement(known, "known_address")
    return None


async def _add_participant(
    session: AsyncSession, conversation_id: int, address: str, name: str
) -> None:
    if not await _in_thread(session, conversation_id, address):
        session.add(Participant(conversation_id=conversation_id, address=address, name=name[:200]))
        await session.flush()
        _known(session, _IN_THREAD)[(conversation_id, address)] = True
        members = _known(session, _MEMBERS).get(conversation_id)
        if members is not None:
            members.add(address)


async def _store_attachments(
    session: AsyncSession, store: AttachmentStore, message_id: int, inbound: InboundMessage
) -> None:
    links: dict[str, str] = {}
    for item in inbound.attachments:
        read = await do_add_attachment(
            session, store, message_id, item.filename, item.content_type, item.data
        )
        if item.content_id:
            links[item.content_id] = f"/api/attachments/{read.id}"
    message = await session.get(Message, message_id)
    assert message is not None
    # Inline images point at `cid:`; the reader fetches them from our attachment route instead.
    for content_id, url in links.items():
        for column in ("body_html", "body_html_full"):
            value = getattr(message, column).replace(f'src="cid:{content_id}"', f'src="{url}"')
            setattr(message, column, value)
    await session.flush()


async def _keep_loaded(session: AsyncSession, conversation_id: int) -> None:
    # The session forgets a clean row nobody references, so a batch of mail would read the same
    # conversation once per message; holding it for the batch lets the identity map answer.
    if batch_cache(session) is None:
        return
    held = _known(session, _CONVERSATIONS)
    if conversation_id not in held:
        held[conversation_id] = await session.get(Conversation, conversation_id)


async def is_known_message(session: AsyncSession, message_id_header: str | None) -> bool:
    """Whether mail with this Message-ID is already stored (a re-scan or a redelivery)."""
    if not message_id_header:
        return False
    found = await session.scalar(
        sa.select(Message.id).where(Message.message_id_header == message_id_header)
    )
    return found is not None


async def do_receive_email(
    session: AsyncSession,
    inbound: InboundMessage,
    *,
    context: ThreadingContext,
    store: AttachmentStore,
    timings: dict[str, float] | None = None,
) -> MessageRead | None:
    """Thread and store one inbound email (a bounce also marks what it bounces). Returns None
    for mail already stored; raises Unplaceable for mail that belongs nowhere. `timings`, when
    given, accumulates the seconds spent deciding where mail goes ("threading")."""
    started = time.perf_counter()
    if inbound.bounce is not None:
        # A bounce changes other rows before it is stored: a redelivered one must not do so twice.
        if await is_known_message(session, inbound.message_id_header):
            return None
        conversation_id = await do_record_bounce(session, inbound.bounce)
        if conversation_id is None:
            raise Unplaceable("a delivery status report about no message of ours")
        placement = Placement(conversation_id, "bounce")
    else:
        found = await find_placement(session, inbound, context)
        if found is None and not inbound.from_address:
            raise Unplaceable("no sender address")
        if found is None and inbound.is_automatic:
            # An out-of-office or a mailer's notice from a stranger is no new lead.
            raise Unplaceable("automatic mail from an unknown sender")
        if found is None:
            conversation_id = await do_create_prospect_from_email(
                session, inbound.from_address, inbound.from_name
            )
            found = Placement(conversation_id, "new_prospect")
        else:
            await _add_participant(
                session, found.conversation_id, inbound.from_address, inbound.from_name
            )
        placement = found
    if timings is not None:
        timings["threading"] = timings.get("threading", 0.0) + time.perf_counter() - started
    await _keep_loaded(session, placement.conversation_id)
    read = await do_record_inbound(
        session, placement.conversation_id, inbound, thread_rule=placement.rule
    )
    if read is not None and inbound.attachments:
        await _store_attachments(session, store, read.id, inbound)
    return read


async def _prefetch(session: AsyncSession, batch: Sequence[InboundMessage]) -> set[str]:
    """Read what a batch's threading will ask, in one query each, into the batch's cache: the
    conversations of the Message-IDs it references, the members of those conversations, and the
    conversations of its senders that are prospects. Returns the batch's Message-IDs that are
    already stored."""
    headers = {i.message_id_header for i in batch if i.message_id_header}
    wanted = {w for i in batch for w in (*_ids(i.in_reply_to), *_ids(i.references))}
    stored: set[str] = set()
    known = _known(session, _MESSAGE_CONVERSATIONS)
    if headers | wanted:
        rows = await session.execute(
            sa.select(Message.message_id_header, Message.conversation_id).where(
                Message.message_id_header.in_(headers | wanted)
            )
        )
        for header, conversation_id in rows.all():
            if header in headers:
                stored.add(header)
            known[header] = conversation_id
        _known(session, _LOOKED_UP).update(dict.fromkeys(wanted, True))
    members: dict[int, set[str]] = _known(session, _MEMBERS)
    conversations = {int(known[w]) for w in wanted if w in known} - set(members)
    if conversations:
        of_prospects = (
            sa.select(Conversation.id, ProspectEmail.email)
            .join(ProspectEmail, ProspectEmail.prospect_id == Conversation.prospect_id)
            .where(Conversation.id.in_(conversations))
        )
        of_participants = sa.select(Participant.conversation_id, Participant.address).where(
            Participant.conversation_id.in_(conversations)
        )
        for conversation_id in conversations:
            members[conversation_id] = set()
        for conversation_id, address in (
            await session.execute(of_prospects.union_all(of_participants))
        ).all():
            members[conversation_id].add(address)
    await _load_conversations(session, conversations)
    senders = {i.from_address for i in batch if i.from_address}
    if senders:
        # The prospect with the lowest id owns an address, as `find_prospect_by_address` says.
        rows = await session.execute(
            sa.select(ProspectEmail.email, Conversation.id)
            .join(Conversation, Conversation.prospect_id == ProspectEmail.prospect_id)
            .where(ProspectEmail.email.in_(senders))
            .order_by(ProspectEmail.prospect_id.desc(), Conversation.id.desc())
        )
        by_address = dict(rows.all())
        _known(session, _ADDRESSES).update(by_address)
        await _load_conversations(session, set(by_address.values()))
    return stored


async def _load_conversations(session: AsyncSession, ids: set[int]) -> None:
    """Hold these conversations for the batch (see `_keep_loaded`), read in one query."""
    held = _known(session, _CONVERSATIONS)
    missing = ids - set(held)
    if missing:
        rows = await session.scalars(sa.select(Conversation).where(Conversation.id.in_(missing)))
        held.update({c.id: c for c in rows})


async def _place_plain(
    session: AsyncSession, inbound: InboundMessage, context: ThreadingContext
) -> Placement | None:
    """Where a plain message (no bounce, no attachments) goes, as `do_receive_email` decides:
    its sender added to the conversation when new to it, or a stranger given a prospect. None
    for anything else (the caller stores that one by one)."""
    if inbound.bounce is not None or inbound.attachments or inbound.external_id:
        return None
    placement = await find_placement(session, inbound, context)
    if placement is not None:
        await _add_participant(
            session, placement.conversation_id, inbound.from_address, inbound.from_name
        )
    elif inbound.from_address and not inbound.is_automatic:
        conversation_id = await do_create_prospect_from_email(
            session, inbound.from_address, inbound.from_name
        )
        _known(session, _ADDRESSES)[inbound.from_address] = conversation_id
        placement = Placement(conversation_id, "new_prospect")
    return placement


async def do_receive_emails(
    session: AsyncSession,
    batch: Sequence[InboundMessage],
    *,
    context: ThreadingContext,
    store: AttachmentStore,
    timings: dict[str, float] | None = None,
) -> list[MessageRead | None]:
    """`do_receive_email` for each message of a batch, in order, with the same results, inside
    an `event_batch`: the threading look-ups are read for the whole batch at once, and runs of
    plain replies to known threads are stored together (`do_record_inbound_many`). Bounces,
    mail with attachments and mail from strangers go one by one. Raises as soon as one message
    cannot be stored (the caller redoes the batch one message at a time)."""
    if batch_cache(session) is None:
        raise RuntimeError("do_receive_emails runs inside an event batch")
    results: list[MessageRead | None] = [None] * len(batch)
    started = time.perf_counter()
    seen = await _prefetch(session, batch)
    known = _known(session, _MESSAGE_CONVERSATIONS)
    run: list[tuple[int, Conversation, InboundMessage, str]] = []
    spent = time.perf_counter() - started

    async def store_run() -> None:
        reads = await do_record_inbound_many(session, [(c, i, rule) for _, c, i, rule in run])
        for (index, _, _, _), read in zip(run, reads, strict=True):
            results[index] = read
        run.clear()

    for index, inbound in enumerate(batch):
        header = inbound.message_id_header
        if header and header in seen:
            continue  # already stored (a re-scan, or the same mail twice in the batch)
        began = time.perf_counter()
        placement = await _place_plain(session, inbound, context)
        spent += time.perf_counter() - began
        if placement is None:
            if run:
                await store_run()
            read = await do_receive_email(
                session, inbound, context=context, store=store, timings=timings
            )
            results[index] = read
            conversation_id = None if read is None else read.conversation_id
        else:
            await _keep_loaded(session, placement.conversation_id)
            conversation = _known(session, _CONVERSATIONS)[placement.conversation_id]
            run.append((index, conversation, inbound, placement.rule))
            conversation_id = placement.conversation_id
        if header:
            seen.add(header)
            if conversation_id is not None:
                known[header] = conversation_id
    if run:
        await store_run()
    if timings is not None:
        timings["threading"] = timings.get("threading", 0.0) + spent
    return results
