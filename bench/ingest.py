"""Email ingest against a real Dovecot: throughput on SQLite and PostgreSQL, and the latency from
LMTP delivery to the websocket frame.

    python bench/ingest.py [--messages 5000] [--databases sqlite,postgresql] [--rounds 100]
                           [--no-readme]

Throughput: a fresh database per kind is seeded with one contact manager and 50 prospects, each
emailed once; a fresh Dovecot mailbox gets N messages by IMAP APPEND (not timed): replies that
quote our Message-IDs (some from Cc'd people), new mail from known prospects, strangers who
become prospects, a few out-of-office replies. Then one `ImapWatcher.sync_once()` reads them all
(UID FETCH BODY.PEEK in batches of 100), parses, threads and stores them (one transaction per
batch, the cursor advanced with the batch). The split: fetching (IMAP round trips), parsing
(MIME, charsets, quote cutting, nh3; for a backlog like this one in a child process,
`channels/email/parser_process.py`; the wall time a chunk waits for it),
threading (deciding the conversation) and storing (everything else in the transaction, events
included, and the commits). The next batch is fetched and parsed while the current one is
stored, so these stage times overlap: their shares are of their sum, not of the wall time.

Latency: the real app (uvicorn, in this process, its own IMAP watcher on IDLE) with a signed-in
websocket; a reply is delivered by LMTP and the clock stops when `message.created` arrives.

At the end the "Email ingest" section of bench/README.md is rewritten (unless --no-readme).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from channels.email.imap import ImapConfig, ImapWatcher  # noqa: E402
from channels.storage import FileAttachmentStore  # noqa: E402
from inbox.accounts.models import Account, Role  # noqa: E402
from inbox.accounts.schemas import AccountCreate  # noqa: E402
from inbox.accounts.service import do_create_account  # noqa: E402
from inbox.contacts.prospects import do_create_prospect  # noqa: E402
from inbox.contacts.schemas import ProspectCreate  # noqa: E402
from inbox.conversations.models import Channel, DeliveryStatus, Direction, Message  # noqa: E402
from inbox.core.access import actor_of  # noqa: E402
from inbox.core.db import make_engine, make_sessionmaker, migrate  # noqa: E402
from inbox.email.placement import ThreadingContext  # noqa: E402
from inbox.events.log import MemoryPublisher  # noqa: E402
from tests.support.dovecot import PASSWORD, Dovecot, running_dovecot  # noqa: E402
from tests.support.live import PASSWORD as LOGIN_PASSWORD  # noqa: E402
from tests.support.live import Socket, User, live_server  # noqa: E402

README = ROOT / "bench" / "README.md"
START, END = "<!-- ingest-figures:start -->", "<!-- ingest-figures:end -->"
PG_ADMIN = os.environ.get(
    "INBOX_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
SECRET = "bench-ingest-secret-key-0123456789abcdef"
REPLY_MAILBOX = "replies@oem.test"
PROSPECTS = 50
TARGET_RATE = 500.0
LOAD_AT_START = os.getloadavg()[0]
TARGET_P99 = 1.0
QUOTE = "\n".join(
    f"> Line {i} of the quote we sent: the Model X comes with a 3-year warranty." for i in range(12)
)


def reply(n: int) -> bytes:
    """The n-th message of the corpus (deterministic)."""
    p = n % PROSPECTS
    m = EmailMessage()
    kind = n % 20
    if kind < 13:  # a prospect answers our email, quoting it
        m["From"] = f"Prospect {p} <prospect{p}@example.com>"
        m["In-Reply-To"] = m["References"] = f"<out-{p}@inbox.test>"
    elif kind < 16:  # someone we copied answers
        m["From"] = f"Partner {p} <partner{p}@example.org>"
        m["In-Reply-To"] = m["References"] = f"<out-{p}@inbox.test>"
    elif kind < 18:  # a known prospect writes afresh
        m["From"] = f"Prospect {p} <prospect{p}@example.com>"
    elif kind < 19:  # a stranger writes in first
        m["From"] = f"Newcomer {n} <newcomer{n}@example.net>"
    else:  # an out-of-office reply
        m["From"] = f"Prospect {p} <prospect{p}@example.com>"
        m["Auto-Submitted"] = "auto-replied"
    m["To"] = REPLY_MAILBOX
    m["Subject"] = f"Re: Your quote for the Model X ({n})"
    m["Message-ID"] = f"<bench-{n}-{uuid.uuid4().hex[:8]}@example.com>"
    m["Date"] = "Tue, 24 Nov 2026 09:00:00 +0000"
    text = (
        f"Hello Dana,\n\nThanks, message {n}: Thursday works, and please include delivery.\n\n"
        f"Best,\nProspect {p}\n\nOn Mon, Nov 23, 2026 at 9:30 AM Dana <dana@oem.test> wrote:\n"
        f"{QUOTE}\n"
    )
    m.set_content(text)
    html = (
        f'<div dir="ltr">Hello Dana,<div><br></div><div>Thanks, message {n}: Thursday works.</div>'
        f'</div><div class="gmail_quote"><blockquote>{QUOTE.replace(chr(10), "<br>")}'
        "</blockquote></div>"
    )
    m.add_alternative(html, subtype="html")
    return bytes(m)


async def seed(url: str) -> None:
    await asyncio.to_thread(migrate, url)
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    async with maker() as s:
        account = await do_create_account(
            s,
            None,
            AccountCreate(
                email="dana@oem.test",
                name="Dana",
                role=Role.CONTACT_MANAGER,
                password=LOGIN_PASSWORD,
            ),
        )
        db_account = await s.get(Account, account.id)
        assert db_account is not None
        actor = actor_of(db_account)
        for p in range(PROSPECTS):
            read = await do_create_prospect(
                s,
                actor,
                ProspectCreate(
                    first_name="Prospect", last_name=str(p), emails=[f"prospect{p}@example.com"]
                ),
                region="US",
            )
            s.add(
                Message(
                    conversation_id=read.conversation_id,
                    channel=Channel.EMAIL,
                    direction=Direction.OUTBOUND,
                    author_account_id=account.id,
                    subject="Your quote for the Model X",
                    message_id_header=f"<out-{p}@inbox.test>",
                    recipients={
                        "to": [f"prospect{p}@example.com"],
                        "cc": [f"partner{p}@example.org"],
                    },
                    status=DeliveryStatus.SENT,
                )
            )
        await s.commit()
    await engine.dispose()


@dataclass
class Throughput:
    database: str
    messages: int
    seconds: float
    fetch: float
    parse: float
    threading: float
    storing: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


async def throughput(url: str, label: str, dovecot: Dovecot, count: int, files: Path) -> Throughput:
    await seed(url)
    user = dovecot.add_user()
    print(f"[{label}] appending {count} messages to Dovecot ...", flush=True)
    await asyncio.to_thread(dovecot.append, user, [reply(n) for n in range(count)])
    engine = make_engine(url)
    watcher = ImapWatcher(
        ImapConfig("127.0.0.1", dovecot.port, user, PASSWORD, "none"),
        make_sessionmaker(engine),
        MemoryPublisher(),
        context=ThreadingContext(SECRET, REPLY_MAILBOX),
        store=FileAttachmentStore(files),
        lease=timedelta(seconds=120),
        batch_size=100,
    )
    started = time.perf_counter()
    read = await watcher.sync_once()
    seconds = time.perf_counter() - started
    async with make_sessionmaker(engine)() as s:
        stored = await s.scalar(
            sa.select(sa.func.count())
            .select_from(Message)
            .where(Message.direction == Direction.INBOUND)
        )
    await engine.dispose()
    assert read == count and stored == count, (read, stored)
    st = watcher.stats
    threading = st.timings.get("threading", 0.0)
    return Throughput(
        label,
        count,
        seconds,
        st.fetch_seconds,
        st.parse_seconds,
        threading,
        st.store_seconds - threading,
    )


async def latency(
    url: str, label: str, dovecot: Dovecot, rounds: int, data_dir: Path
) -> list[float]:
    await seed(url)
    user = dovecot.add_user()
    env = {
        "INBOX_IMAP_HOST": "127.0.0.1",
        "INBOX_IMAP_PORT": str(dovecot.port),
        "INBOX_IMAP_USERNAME": user,
        "INBOX_IMAP_PASSWORD": PASSWORD,
        "INBOX_IMAP_TLS": "none",
        "INBOX_REPLY_ADDRESS": REPLY_MAILBOX,
        "INBOX_SECRET_KEY": SECRET,
        "INBOX_LOG_LEVEL": "ERROR",
    }
    samples: list[float] = []
    async with live_server(url, data_dir, **env) as server:
        assert server.services is not None and server.services.watcher is not None
        await asyncio.wait_for(server.services.watcher.connected.wait(), 30)
        user_http = await User(server.url, "dana@oem.test").sign_in()
        ws = await Socket.open(server.url, user_http.cookie)
        await ws.until("ready")
        print(f"[{label}] {rounds} LMTP deliveries ...", flush=True)
        for n in range(rounds):
            raw = reply(100_000 + n * 20)  # a prospect's reply, threaded by References
            started = time.perf_counter()
            await asyncio.to_thread(dovecot.deliver, user, raw)
            await ws.until("message.created", timeout=10)
            samples.append(time.perf_counter() - started)
        await ws.close()
        await user_http.close()
    return samples


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@contextlib.asynccontextmanager
async def database(kind: str, directory: Path) -> AsyncIterator[str]:
    """A fresh, empty database of that kind; PostgreSQL's is dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        return
    import asyncpg

    admin = sa.make_url(PG_ADMIN)
    name = f"inbox_bench_ingest_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(
            host=admin.host, port=admin.port, user=admin.username, database=admin.database
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    await run(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        await run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def report(results: list[Throughput], latencies: dict[str, list[float]], command: str) -> str:
    versions = ", ".join(
        f"{p} {importlib.metadata.version(p)}"
        for p in ("SQLAlchemy", "aiosqlite", "asyncpg", "aioimaplib", "nh3")
    )
    lines = [
        f"Last run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `{command}`",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; {versions}; Dovecot on loopback; "
        "everything (Dovecot, database, app) shares the same cores, with whatever else runs "
        f"on the machine (load average {LOAD_AT_START:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end).",
        "",
        "Stage shares are of the summed stage times: the next batch is fetched and parsed "
        "while the current one is stored.",
        "",
        "| database | messages | seconds | messages/s | fetching | parsing | threading | storing |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        total = r.fetch + r.parse + r.threading + r.storing
        shares = [f"{100 * x / total:.0f}%" for x in (r.fetch, r.parse, r.threading, r.storing)]
        lines.append(
            f"| {r.database} | {r.messages:,} | {r.seconds:.1f} | {r.rate:,.0f} | "
            + " | ".join(shares)
            + " |"
        )
    lines += [
        "",
        "| database | deliveries | LMTP to `message.created` p50 / p99 / max (ms) |",
        "|---|---:|---|",
    ]
    for label, samples in latencies.items():
        figures = " / ".join(
            f"{1000 * v:,.0f}"
            for v in (percentile(samples, 0.5), percentile(samples, 0.99), max(samples))
        )
        lines.append(f"| {label} | {len(samples)} | {figures} |")
    lines += ["", "Targets:", ""]
    for r in results:
        met = "met" if r.rate >= TARGET_RATE else "MISSED"
        lines.append(f"- {met}: at least 500 messages/s on {r.database} (measured {r.rate:,.0f})")
    for label, samples in latencies.items():
        p99 = percentile(samples, 0.99)
        met = "met" if p99 < TARGET_P99 else "MISSED"
        lines.append(f"- {met}: p99 delivery-to-frame under 1 s on {label} (measured {p99:.2f} s)")
    return "\n".join(lines)


SECTION_HEAD = """## Email ingest: IMAP to the database, LMTP to the websocket

```
python bench/ingest.py                          # 5,000 messages on SQLite and PostgreSQL, about 2 minutes
python bench/ingest.py --messages 1000 --databases sqlite --rounds 20 --no-readme
```

What is measured is described at the top of `bench/ingest.py`. The figures below are rewritten
by the script at the end of each run (between the marker comments).

"""


def write_readme(figures: str) -> None:
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    block = f"{START}\n{figures}\n{END}"
    if START in text and END in text:
        head, _, rest = text.partition(START)
        _, _, tail = rest.partition(END)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + SECTION_HEAD + block + "\n"
    README.write_text(text)


async def main(args: argparse.Namespace) -> None:
    results: list[Throughput] = []
    latencies: dict[str, list[float]] = {}
    with running_dovecot() as dovecot, tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for kind in args.databases.split(","):
            async with database(kind, directory) as url:
                result = await throughput(url, kind, dovecot, args.messages, directory / "files")
                print(
                    f"[{kind}] {result.messages} in {result.seconds:.1f} s = {result.rate:,.0f}/s "
                    f"(fetch {result.fetch:.1f} s, parse {result.parse:.1f} s, threading "
                    f"{result.threading:.1f} s, storing {result.storing:.1f} s)",
                    flush=True,
                )
                results.append(result)
            if args.rounds:
                async with database(kind, directory) as url:
                    samples = await latency(url, kind, dovecot, args.rounds, directory / kind)
                    latencies[kind] = samples
                    print(
                        f"[{kind}] latency p50 {percentile(samples, 0.5) * 1000:.0f} ms, "
                        f"p99 {percentile(samples, 0.99) * 1000:.0f} ms",
                        flush=True,
                    )
    figures = report(results, latencies, "python bench/ingest.py " + " ".join(sys.argv[1:]))
    print(figures)
    if not args.no_readme:
        write_readme(figures)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--rounds", type=int, default=100, help="LMTP deliveries timed per database"
    )
    parser.add_argument("--no-readme", action="store_true")
    asyncio.run(main(parser.parse_args()))
