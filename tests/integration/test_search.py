"""The message search grid on SQLite FTS5 and PostgreSQL tsvector: the same suite on both."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.accounts.models import Role
from inbox.contacts.models import Prospect
from inbox.contacts.prospects import do_create_prospect
from inbox.contacts.schemas import PhoneInput, ProspectCreate
from inbox.conversations.models import Channel, Conversation, DeliveryStatus, Direction, Message
from inbox.core.access import Actor
from inbox.errors import ValidationFailed
from inbox.search.export import neutralize
from inbox.search.service import MessageSearch, SearchHit, search_messages
from server.app import create_app
from tests.conftest import create_account
from tests.integration.test_api import make_settings, sign_in

Maker = async_sessionmaker[AsyncSession]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Corpus:
    cmu: Actor
    admin: Actor
    alice_conv: int
    bob_conv: int
    carla_conv: int
    ids: dict[str, int]


async def add_message(
    maker: Maker,
    conversation_id: int,
    body: str,
    *,
    subject: str = "",
    channel: Channel = Channel.EMAIL,
    direction: Direction = Direction.INBOUND,
    author: Actor | None = None,
    at: datetime = T0,
) -> int:
    async with maker() as s:
        message = Message(
            conversation_id=conversation_id,
            channel=channel,
            direction=direction,
            author_account_id=author.id if author else None,
            subject=subject,
            body_text=body,
            status=DeliveryStatus.RECEIVED
            if direction is Direction.INBOUND
            else DeliveryStatus.SENT,
            created_at=at,
        )
        s.add(message)
        await s.commit()
        return message.id


async def add_prospect(maker: Maker, actor: Actor, data: ProspectCreate) -> int:
    async with maker() as s:
        read = await do_create_prospect(s, actor, data, region="US")
        await s.commit()
        return read.conversation_id


@pytest.fixture
async def corpus(sessionmaker: Maker, cmu: Actor, admin: Actor) -> Corpus:
    alice = await add_prospect(
        sessionmaker,
        cmu,
        ProspectCreate(
            first_name="Alice",
            last_name="Johnson",
            emails=["alice@example.test"],
            phones=[
                PhoneInput(kind="home", number="(212) 555-0101"),
                PhoneInput(kind="mobile", number="212-555-0102"),
            ],
        ),
    )
    bob = await add_prospect(
        sessionmaker,
        cmu,
        ProspectCreate(
            first_name="Bob",
            last_name="Smith",
            emails=["bob@example.test"],
            phones=[PhoneInput(kind="work", number="+1 646 555 0199")],
        ),
    )
    carla = await add_prospect(
        sessionmaker,
        cmu,
        ProspectCreate(first_name="Carla", last_name="Smithers", emails=["carla@example.test"]),
    )
    ids: dict[str, int] = {}
    add = sessionmaker
    ids["drive"] = await add_message(
        add, alice, "I would like to book a test drive on Saturday.", subject="Test drive", at=T0
    )
    ids["reply"] = await add_message(
        add,
        alice,
        "Saturday works. Bring your license for the test drive.",
        subject="Re: Test drive",
        direction=Direction.OUTBOUND,
        author=cmu,
        at=T0 + timedelta(hours=1),
    )
    ids["sms"] = await add_message(
        add,
        alice,
        "Running late, drive safe",
        channel=Channel.SMS,
        at=T0 + timedelta(days=1),
    )
    ids["diesel"] = await add_message(
        add, bob, "Is the diesel truck still available?", subject="Truck", at=T0 + timedelta(days=2)
    )
    ids["electric"] = await add_message(
        add,
        bob,
        "The electric truck is available, and the diesel is sold.",
        subject="Re: Truck",
        direction=Direction.OUTBOUND,
        author=admin,
        at=T0 + timedelta(days=3),
    )
    ids["gas"] = await add_message(
        add, carla, "What does the gas truck cost?", subject="Price", at=T0 + timedelta(days=4)
    )
    ids["xss"] = await add_message(
        add,
        carla,
        "Look at this truck <img src=x onerror=alert(1)> & tell me",
        subject="<script>alert(2)</script> truck photo",
        at=T0 + timedelta(days=5),
    )
    return Corpus(cmu, admin, alice, bob, carla, ids)


async def find(maker: Maker, actor: Actor, **filters: Any) -> list[SearchHit]:
    async with maker() as s:
        page = await search_messages(s, actor, MessageSearch(**filters), region="US", limit=100)
    return page.items


async def ids_of(maker: Maker, corpus: Corpus, **filters: Any) -> list[str]:
    names = {v: k for k, v in corpus.ids.items()}
    return [names[h.message_id] for h in await find(maker, corpus.cmu, **filters)]


async def test_keywords_are_stemmed_on_both_backends(sessionmaker: Maker, corpus: Corpus) -> None:
    # "runs" finds "Running"; "drives" finds "drive".
    assert await ids_of(sessionmaker, corpus, q="runs") == ["sms"]
    assert await ids_of(sessionmaker, corpus, q="drives") == ["sms", "reply", "drive"]


async def test_a_quoted_phrase_matches_only_those_words_in_that_order(
    sessionmaker: Maker, corpus: Corpus
) -> None:
    assert await ids_of(sessionmaker, corpus, q='"test drive"') == ["reply", "drive"]
    assert await ids_of(sessionmaker, corpus, q='"drive test"') == []
    assert await ids_of(sessionmaker, corpus, q='"diesel truck"') == ["diesel"]


async def test_excluded_words_and_or(sessionmaker: Maker, corpus: Corpus) -> None:
    assert await ids_of(sessionmaker, corpus, q="truck -diesel") == ["xss", "gas"]
    assert await ids_of(sessionmaker, corpus, q='truck -"diesel truck" -gas') == [
        "xss",
        "electric",
    ]
    assert await ids_of(sessionmaker, corpus, q="gas or electric truck") == ["gas", "electric"]
    with pytest.raises(ValidationFailed):
        await find(sessionmaker, corpus.cmu, q="-diesel")


async def test_each_filter_alone(sessionmaker: Maker, corpus: Corpus) -> None:
    every = ["xss", "gas", "electric", "diesel", "sms", "reply", "drive"]
    assert await ids_of(sessionmaker, corpus) == every
    day = timedelta(days=1)
    assert await ids_of(sessionmaker, corpus, date_from=T0 + day, date_to=T0 + 3 * day) == [
        "diesel",
        "sms",
    ]
    assert await ids_of(sessionmaker, corpus, account_id=corpus.cmu.id) == ["reply"]
    assert await ids_of(sessionmaker, corpus, account_id=corpus.admin.id) == ["electric"]
    assert await ids_of(sessionmaker, corpus, channel=Channel.SMS) == ["sms"]
    assert await ids_of(sessionmaker, corpus, direction=Direction.OUTBOUND) == [
        "electric",
        "reply",
    ]
    assert await ids_of(sessionmaker, corpus, first_name="ali") == ["sms", "reply", "drive"]
    # A prefix of the last name, in any case: Smith and Smithers.
    assert await ids_of(sessionmaker, corpus, last_name="SMITH") == [
        "xss",
        "gas",
        "electric",
        "diesel",
    ]
    assert await ids_of(sessionmaker, corpus, last_name="smithe") == ["xss", "gas"]
    assert await ids_of(sessionmaker, corpus, email="Bob@Example.test") == ["electric", "diesel"]


@pytest.mark.parametrize("typed", ["(212) 555-0101", "212.555.0101", "+1 212 555 0101"])
async def test_phones_match_in_any_format_and_only_of_their_kind(
    sessionmaker: Maker, corpus: Corpus, typed: str
) -> None:
    assert await ids_of(sessionmaker, corpus, home_phone=typed) == ["sms", "reply", "drive"]
    assert await ids_of(sessionmaker, corpus, mobile_phone=typed) == []
    assert await ids_of(sessionmaker, corpus, work_phone="646-555-0199") == ["electric", "diesel"]
    assert await ids_of(sessionmaker, corpus, mobile_phone="2125550102") == [
        "sms",
        "reply",
        "drive",
    ]
    with pytest.raises(ValidationFailed) as refused:
        await find(sessionmaker, corpus.cmu, home_phone="call me")
    assert refused.value.fields == {"home_phone": "'call me' is not a phone number"}


async def test_filters_combine(sessionmaker: Maker, corpus: Corpus) -> None:
    assert await ids_of(
        sessionmaker, corpus, q="truck", last_name="smith", direction=Direction.INBOUND
    ) == ["xss", "gas", "diesel"]
    assert await ids_of(
        sessionmaker,
        corpus,
        q="truck",
        last_name="smith",
        direction=Direction.INBOUND,
        date_to=T0 + timedelta(days=5),
        email="carla@example.test",
    ) == ["gas"]
    assert await ids_of(
        sessionmaker, corpus, q="drive", channel=Channel.EMAIL, home_phone="212 555 0101"
    ) == ["reply", "drive"]
    assert (
        await ids_of(sessionmaker, corpus, q="drive", channel=Channel.SMS, account_id=corpus.cmu.id)
        == []
    )


async def test_every_matched_word_is_bold_and_message_markup_stays_text(
    sessionmaker: Maker, corpus: Corpus
) -> None:
    (hit,) = await find(sessionmaker, corpus.cmu, q="photo truck", last_name="smithers")
    assert "<img" not in hit.snippet_html and "<script" not in hit.subject_html
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; tell me" in hit.snippet_html
    assert hit.snippet_html.startswith("Look at this <b>truck</b>")
    assert hit.subject_html == "&lt;script&gt;alert(2)&lt;/script&gt; <b>truck photo</b>"
    (drive,) = await find(
        sessionmaker, corpus.cmu, q='"test drive" saturday', channel="email", direction="outbound"
    )
    assert drive.snippet_html == (
        "<b>Saturday</b> works. Bring your license for the <b>test drive</b>."
    )
    assert drive.subject_html == "Re: <b>Test drive</b>"


async def test_results_carry_the_grid_columns_and_the_deep_link(
    sessionmaker: Maker, corpus: Corpus
) -> None:
    (hit,) = await find(sessionmaker, corpus.cmu, q="license")
    assert hit.message_id == corpus.ids["reply"]
    assert hit.conversation_id == corpus.alice_conv
    assert hit.link == f"/#/conversations/{corpus.alice_conv}?message={corpus.ids['reply']}"
    assert hit.date == T0 + timedelta(hours=1)
    assert (hit.direction, hit.channel) == (Direction.OUTBOUND, Channel.EMAIL)
    assert (hit.account_id, hit.account_name) == (corpus.cmu.id, "Dana")
    assert hit.prospect_name == "Alice Johnson"
    (plain,) = await find(sessionmaker, corpus.cmu, channel="sms")
    assert plain.snippet_html == "Running late, drive safe" and plain.account_name == ""


async def test_updates_and_deletions_are_reflected(sessionmaker: Maker, corpus: Corpus) -> None:
    async with sessionmaker() as s:
        message = await s.get(Message, corpus.ids["gas"])
        assert message is not None
        message.body_text = "What does the hybrid van cost?"
        await s.execute(sa.delete(Message).where(Message.id == corpus.ids["diesel"]))
        await s.commit()
    assert await ids_of(sessionmaker, corpus, q="hybrid van") == ["gas"]
    assert await ids_of(sessionmaker, corpus, q="gas") == []
    assert await ids_of(sessionmaker, corpus, q="diesel") == ["electric"]
    (hit,) = await find(sessionmaker, corpus.cmu, q="van")
    assert "<b>van</b>" in hit.snippet_html


@pytest.mark.parametrize("names_walk", [10**12, 0], ids=["walked", "through GIN by blocks"])
async def test_a_prospect_rename_is_reflected_in_name_and_keyword_searches(
    sessionmaker: Maker, corpus: Corpus, names_walk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inbox.search import backends as search_backends

    # On PostgreSQL: rows walked newest first, or read through GIN, which needs each row's
    # names and its block of ids (migrations 0010, 0011) kept right by the triggers.
    monkeypatch.setattr(search_backends, "PG_NAMES_WALK", names_walk)
    assert await ids_of(sessionmaker, corpus, q="truck", first_name="bob") == [
        "electric",
        "diesel",
    ]
    async with sessionmaker() as s:
        await s.execute(
            sa.update(Prospect)
            .where(Prospect.id == Conversation.prospect_id, Conversation.id == corpus.bob_conv)
            .values(first_name="Roberto", last_name="Núñez")
        )
        await s.commit()
    assert await ids_of(sessionmaker, corpus, q="truck", first_name="bob") == []
    assert await ids_of(sessionmaker, corpus, q="truck", last_name="smith") == ["xss", "gas"]
    assert await ids_of(sessionmaker, corpus, q="truck", first_name="ROB") == [
        "electric",
        "diesel",
    ]
    assert await ids_of(sessionmaker, corpus, q="diesel", first_name="rob", last_name="NÚ") == [
        "electric",
        "diesel",
    ]
    assert await ids_of(sessionmaker, corpus, q="diesel", first_name="robz") == []
    # A moved message goes with its new prospect's names; the text stays searchable.
    async with sessionmaker() as s:
        message = await s.get(Message, corpus.ids["gas"])
        assert message is not None
        message.conversation_id = corpus.bob_conv
        await s.commit()
    assert await ids_of(sessionmaker, corpus, q="truck", first_name="rob") == [
        "gas",
        "electric",
        "diesel",
    ]
    assert await ids_of(sessionmaker, corpus, q="truck", last_name="smithers") == ["xss"]
    (hit,) = await find(sessionmaker, corpus.cmu, q="gas", first_name="roberto")
    assert hit.subject_html == "Price" and "<b>gas</b>" in hit.snippet_html
    # A name is not a keyword: the names are indexed apart from the text.
    assert await ids_of(sessionmaker, corpus, q="roberto") == []
    async with sessionmaker() as s:
        if s.get_bind().dialect.name == "sqlite":
            # FTS5 compares its index with the content view: wrong tokens would fail here.
            check = "INSERT INTO message_fts(message_fts, rank) VALUES ('integrity-check', 1)"
            await s.execute(sa.text(check))


async def add_offers(
    sessionmaker: Maker, conversation: int, every_third: str, first_id: int | None = None
) -> None:
    """45 inbound texts a minute apart, "offer number N", every third one with more words;
    with ids from `first_id` on when given."""
    async with sessionmaker() as s:
        s.add_all(
            Message(
                id=None if first_id is None else first_id + n,
                conversation_id=conversation,
                channel=Channel.SMS,
                direction=Direction.INBOUND,
                body_text=f"offer number {n}" + (f" {every_third}" if n % 3 == 0 else ""),
                status=DeliveryStatus.RECEIVED,
                created_at=T0 + timedelta(minutes=n),
            )
            for n in range(45)
        )
        await s.commit()


async def test_keyset_pages_are_newest_first_without_gaps_or_repeats(
    sessionmaker: Maker, cmu: Actor
) -> None:
    conversation = await add_prospect(sessionmaker, cmu, ProspectCreate(first_name="Pat"))
    await add_offers(sessionmaker, conversation, "special")
    for q, expected in (("offer", 45), ("special", 15), ("", 45)):
        seen: list[int] = []
        cursor = None
        pages = 0
        while True:
            async with sessionmaker() as s:
                page = await search_messages(
                    s, cmu, MessageSearch(q=q), region="US", cursor=cursor, limit=20
                )
            seen += [h.message_id for h in page.items]
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        assert len(seen) == expected and seen == sorted(seen, reverse=True)
        assert pages == -(-expected // 20)
    async with sessionmaker() as s:
        with pytest.raises(ValidationFailed):
            await search_messages(s, cmu, MessageSearch(), region="US", limit=30)
        with pytest.raises(ValidationFailed):
            await search_messages(s, cmu, MessageSearch(), region="US", cursor="nope!")


def test_formula_cells_are_neutralized() -> None:
    for cell in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert neutralize(cell) == "'" + cell
    assert neutralize("plain = fine") == "plain = fine"


@pytest.fixture
async def client(db_url: str, tmp_path: Path) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(make_settings(db_url, tmp_path))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as c:
        yield c


async def test_the_api_pages_and_the_export_streams_the_whole_filtered_set(
    client: AsyncTestClient[Any], sessionmaker: Maker, corpus: Corpus
) -> None:
    formula = await add_message(
        sessionmaker,
        corpus.bob_conv,
        '=HYPERLINK("http://evil.test") truck',
        subject="@truck -deal",
        at=T0 + timedelta(days=6),
    )
    await sign_in(client, "dana@oem.test")
    response = await client.get("/api/search", params={"q": "truck", "limit": 20})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [h["message_id"] for h in body["items"]] == [
        formula,
        corpus.ids["xss"],
        corpus.ids["gas"],
        corpus.ids["electric"],
        corpus.ids["diesel"],
    ]
    assert body["next_cursor"] is None
    assert body["items"][1]["link"].endswith(f"?message={corpus.ids['xss']}")

    export = await client.get("/api/search/export.csv", params={"q": "truck", "last_name": "smith"})
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    assert export.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "date",
        "direction",
        "type",
        "account",
        "prospect",
        "prospect_email",
        "subject",
        "text",
        "conversation_id",
        "message_id",
        "link",
    ]
    assert [int(r[9]) for r in rows[1:]] == [
        formula,
        corpus.ids["xss"],
        corpus.ids["gas"],
        corpus.ids["electric"],
        corpus.ids["diesel"],
    ]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["subject"] == "'@truck -deal"
    assert first["text"] == '\'=HYPERLINK("http://evil.test") truck'
    assert first["date"] == "2026-03-07T12:00:00Z"
    assert first["prospect"] == "Bob Smith" and first["prospect_email"] == "bob@example.test"
    electric = dict(zip(rows[0], rows[4], strict=True))
    assert electric["account"] == "Root" and electric["direction"] == "outbound"
    assert (
        electric["link"] == f"/#/conversations/{corpus.bob_conv}?message={corpus.ids['electric']}"
    )


async def add_texts(
    sessionmaker: Maker, conversation: int, count: int, text: str = "text {n} about the truck"
) -> None:
    """`count` inbound texts a second apart, `text` with its number."""
    async with sessionmaker() as s:
        s.add_all(
            Message(
                conversation_id=conversation,
                channel=Channel.SMS,
                direction=Direction.INBOUND,
                body_text=text.format(n=n),
                status=DeliveryStatus.RECEIVED,
                created_at=T0 + timedelta(seconds=n),
            )
            for n in range(count)
        )
        await s.commit()


async def test_the_export_pages_through_more_than_one_batch(
    client: AsyncTestClient[Any], sessionmaker: Maker, cmu: Actor
) -> None:
    conversation = await add_prospect(sessionmaker, cmu, ProspectCreate(first_name="Many"))
    await add_texts(sessionmaker, conversation, 1203, "reply {n}")
    await sign_in(client, "dana@oem.test")
    export = await client.get("/api/search/export.csv", params={"q": "reply"})
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    ids = [int(r[9]) for r in rows[1:]]
    assert len(ids) == 1203 and len(set(ids)) == 1203 and ids == sorted(ids, reverse=True)


async def test_search_and_export_need_a_signed_in_contact_manager_or_admin(
    client: AsyncTestClient[Any], sessionmaker: Maker
) -> None:
    for url in ("/api/search", "/api/search/export.csv"):
        response = await client.get(url, params={"q": "truck"})
        assert response.status_code == 401
        assert response.json()["code"] == "unauthenticated"
    await create_account(sessionmaker, "root@oem.test", Role.ADMIN)
    await sign_in(client, "root@oem.test")
    assert (await client.get("/api/search", params={"q": "truck"})).status_code == 200
    assert (await client.get("/api/search/export.csv")).status_code == 200
    bad = await client.get("/api/search/export.csv", params={"mobile_phone": "nope"})
    assert bad.status_code == 400 and bad.json()["code"] == "validation_failed"
    assert (await client.get("/api/search", params={"limit": 30})).status_code == 400


# Each way a backend can run a search, forced by its thresholds; every one must give the same
# pages as the default plan on this small corpus (where the prospect filters count as narrow).
PLANS: dict[str, dict[str, Any]] = {
    "default": {},
    "walk with the conversations resolved": {"NARROW_MESSAGES": -1},
    "walk checking each message's prospect": {"PROSPECT_CAP": 0},
    "candidates gathered a few at a time, each its own range": {
        "SQLITE_GATHER": 2,
        "SQLITE_GAP": 0,
        "SQLITE_SEEK_ENTRIES": 0,
    },
    "rare-word probe then GIN": {"PG_PROBE": 1, "PG_RARE": 1.0},
    "words and names intersected by GIN, hits sorted": {"PG_NAMES_WALK": 0},
    "words and names walked newest first": {"PG_NAMES_WALK": 10**12},
    "words and names by every block of ids": {"PG_NAMES_WALK": 0, "PG_BLOCKS": 10**6},
    "words and names in the newest block, then the rest through GIN": {
        "PG_NAMES_WALK": 0,
        "PG_BLOCKS_MARGIN": 1e-9,
    },
}
# Pat Smithson's 45 offers straddle the ends of two blocks of ids (migration 0011).
OFFERS_FROM = 2 * 2**15 - 15


@pytest.mark.parametrize("plan", list(PLANS))
async def test_every_plan_finds_the_same_pages(
    sessionmaker: Maker, corpus: Corpus, plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inbox.search import backends as search_backends

    conversation = await add_prospect(
        sessionmaker, corpus.cmu, ProspectCreate(first_name="Pat", last_name="Smithson")
    )
    await add_offers(sessionmaker, conversation, "special truck", first_id=OFFERS_FROM)
    for name, value in PLANS[plan].items():
        monkeypatch.setattr(search_backends, name, value)
    assert await ids_of(sessionmaker, corpus, q="truck", last_name="smithe") == ["xss", "gas"]
    assert await ids_of(sessionmaker, corpus, q="truck", first_name="bob") == [
        "electric",
        "diesel",
    ]
    assert await ids_of(sessionmaker, corpus, q="drive", first_name="ALI") == [
        "sms",
        "reply",
        "drive",
    ]
    assert await ids_of(sessionmaker, corpus, q='"test drive"', last_name="johnson") == [
        "reply",
        "drive",
    ]
    assert await ids_of(sessionmaker, corpus, q="truck", last_name="nobody") == []
    # Longer than any stored name (100 characters): nothing, not an error.
    assert await ids_of(sessionmaker, corpus, q="truck", last_name="smith" * 21) == []
    assert await ids_of(sessionmaker, corpus, last_name="smithers") == ["xss", "gas"]
    # Keyset pages through one prospect's messages: newest first, no gaps, no repeats.
    pages: list[tuple[dict[str, Any], int]] = [
        ({"q": "special", "first_name": "pat"}, 15),
        ({"q": "offer", "last_name": "smithson"}, 45),
        ({"q": "truck", "last_name": "smith"}, 15 + 4),
    ]
    for filters, expected in pages:
        seen: list[int] = []
        cursor = None
        while True:
            async with sessionmaker() as s:
                page = await search_messages(
                    s, corpus.cmu, MessageSearch(**filters), region="US", cursor=cursor, limit=20
                )
            seen += [h.message_id for h in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert len(seen) == expected and seen == sorted(seen, reverse=True), filters
        assert len(set(seen)) == expected


async def test_an_export_without_keywords_reads_filtered_batches_newest_first(
    client: AsyncTestClient[Any], sessionmaker: Maker, cmu: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inbox.search import export as search_export

    # Batches of 100: the filtered read without keywords pages by id like the keyword one.
    monkeypatch.setattr(search_export, "BATCH_ROWS", (100, 100))
    conversation = await add_prospect(
        sessionmaker, cmu, ProspectCreate(first_name="Sam", emails=["sam@example.test"])
    )
    async with sessionmaker() as s:
        s.add_all(
            Message(
                conversation_id=conversation,
                channel=Channel.EMAIL if n % 10 == 0 else Channel.SMS,
                direction=Direction.INBOUND,
                body_text=f"=cmd {n}" if n == 7 else f"note {n}",
                status=DeliveryStatus.RECEIVED,
                created_at=T0 + timedelta(seconds=n),
            )
            for n in range(250)
        )
        await s.commit()
    await sign_in(client, "dana@oem.test")
    export = await client.get("/api/search/export.csv", params={"channel": "sms"})
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    records = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    ids = [int(r["message_id"]) for r in records]
    assert len(ids) == 225 and len(set(ids)) == 225 and ids == sorted(ids, reverse=True)
    assert {r["type"] for r in records} == {"sms"}
    assert records[-1]["text"] == "note 1" and records[-1]["date"] == "2026-03-01T12:00:01Z"
    assert "'=cmd 7" in [r["text"] for r in records]
    assert {r["prospect"] for r in records} == {"Sam"}
    assert {r["prospect_email"] for r in records} == {"sam@example.test"}


async def test_a_word_in_no_message_is_looked_up_even_after_the_table_grew(
    sessionmaker: Maker, cmu: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A word missing from PostgreSQL's statistics is estimated at PG_RARE of the table's rows
    as the planner reckons them now; compared with the rows counted at the last ANALYZE, a
    grown table made a typo look common, and its search walked every message."""
    from inbox.search import backends as search_backends

    conversation = await add_prospect(sessionmaker, cmu, ProspectCreate(first_name="Pat"))
    await add_texts(sessionmaker, conversation, 200)
    async with sessionmaker() as s:
        postgres = s.get_bind().dialect.name == "postgresql"
        if postgres:
            await s.execute(sa.text("ANALYZE message"))
            await s.commit()
    await add_texts(sessionmaker, conversation, 1000)
    rare: list[str] = []
    looked_up = search_backends.PostgresSearch._rare

    async def spy(self: Any, *args: Any, **kwargs: Any) -> list[int]:
        rare.append("phrase" if args[4] else "word")
        return await looked_up(self, *args, **kwargs)

    monkeypatch.setattr(search_backends.PostgresSearch, "_rare", spy)
    assert await find(sessionmaker, cmu, q="qwertyuiop") == []
    truck = await find(sessionmaker, cmu, q="truck")
    assert [h.snippet_html for h in truck[:2]] == [
        "text 999 about the <b>truck</b>",
        "text 998 about the <b>truck</b>",
    ]
    if postgres:
        assert rare == ["word"], "the missing word is read through GIN, not walked"
