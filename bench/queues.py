"""Sidebar counts and the first page of every filter at scale, on SQLite and PostgreSQL.

    python bench/queues.py [--backend sqlite,postgresql] [--prospects 100000] [--leads 250000]
                           [--messages 1000000] [--runs 30] [--reuse] [--no-readme]

Builds a corpus through the real migrations (accounts, prospects with one conversation each,
leads over two years in every follow-up status, messages, the viewer's read and flag state,
tasks and six saved views), then times the use cases the sidebar and the grids call, as the API
runs them: the six conversation filter counts in one call, the first page of each conversation
filter, the queues with their counts, the first page of each queue, the task grid's default and
the dashboard. The message search triggers are dropped on the SQLite copy while it is loaded (this
benchmark does not search). SQLite goes to /tmp/inbox-bench-queues.db; PostgreSQL uses the
database `inbox_bench_queues` on INBOX_TEST_POSTGRES_URL's server. At the end the "Queues and
filters" section of bench/README.md is rewritten (unless --no-readme).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from inbox.accounts.models import Role  # noqa: E402
from inbox.conversations.service import count_conversations, list_conversations  # noqa: E402
from inbox.core.access import Actor  # noqa: E402
from inbox.core.db import make_engine, make_sessionmaker, migrate  # noqa: E402
from inbox.dashboard.service import get_dashboard  # noqa: E402
from inbox.queues.service import QueueCreate, do_create_queue, list_queue_leads, list_queues  # noqa: E402
from inbox.tasks.service import TaskFilter, list_tasks  # noqa: E402

SQLITE_PATH = Path("/tmp/inbox-bench-queues.db")
PG_DB = "inbox_bench_queues"
PG_ADMIN = os.environ.get(
    "INBOX_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
NOW = datetime(2026, 3, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
ACCOUNTS = 10
LEAD_TYPES = ["Website", "Brochure", "Test drive", "Show", "Phone", "Chat"]
SOURCES = ["web", "show", "phone", "partner", "mail", "social", "chat", "walk-in"]
CATEGORIES = ["new", "used", "service", "parts"]
TIMEFRAMES = ["0-3", "3-6", "6-12", "12+", "unknown"]
DEALERS = [f"Dealer {n:02d}" for n in range(50)]
# Mostly worked leads; a fifth still waiting, as in a busy queue.
STATUSES = ["not_contacted"] * 20 + ["contacted"] * 60 + ["appointment_set"] * 10
STATUSES += ["closed_won"] * 4 + ["closed_lost"] * 6
VIEWS: list[dict[str, Any]] = [
    {"name": "Not contacted", "criteria": {"follow_up_status": ["not_contacted"]}},
    {
        "name": "Not contacted, web",
        "criteria": {"follow_up_status": ["not_contacted"], "lead_type": ["Website", "Chat"]},
        "sort": "oldest",
    },
    {
        "name": "Not contacted, one dealer",
        "criteria": {"follow_up_status": ["not_contacted"], "dealer": ["Dealer 07"]},
        "sort": "due",
    },
    {"name": "Last 30 days", "criteria": {"created_from": "2026-01-30T00:00:00Z"}},
    {
        "name": "Appointments by name",
        "criteria": {"follow_up_status": ["appointment_set"], "category": ["new"]},
        "sort": "name",
    },
    {"name": "Everything", "criteria": {}},
]


def when(rng: random.Random) -> datetime:
    return NOW - SPAN + timedelta(seconds=rng.randrange(int(SPAN.total_seconds())))


class Corpus:
    """Rows per table, as (columns, tuples), generated once with a fixed seed."""

    def __init__(self, prospects: int, leads: int, messages: int) -> None:
        rng = random.Random(7)
        self.tables: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
        self.add(
            "account",
            [
                "id",
                "email",
                "name",
                "role",
                "password_hash",
                "from_name",
                "from_email",
                "signature_first",
                "signature_reply",
                "is_active",
                "event_seq",
                "created_at",
            ],
            [
                (
                    i,
                    f"cm{i}@oem.test",
                    f"CM {i}",
                    "contact_manager",
                    "x",
                    f"CM {i}",
                    "",
                    "",
                    "",
                    True,
                    0,
                    NOW,
                )
                for i in range(1, ACCOUNTS + 1)
            ],
        )
        self.add(
            "prospect",
            [
                "id",
                "first_name",
                "last_name",
                "postal_code",
                "product_of_interest",
                "kind",
                "created_at",
                "updated_at",
            ],
            [
                (
                    i,
                    f"First{i % 997}",
                    f"Last{i % 4999}",
                    "",
                    "Roadster",
                    "customer" if i % 5 == 0 else "prospect",
                    NOW,
                    NOW,
                )
                for i in range(1, prospects + 1)
            ],
        )
        self.add_leads(rng, prospects, leads)
        self.add_messages(rng, prospects, messages)
        self.add_tasks(rng, prospects)

    def add(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        self.tables[table] = (columns, rows)

    def add_leads(self, rng: random.Random, prospects: int, leads: int) -> None:
        rows = []
        for i in range(1, leads + 1):
            created = when(rng)
            due = created + timedelta(days=rng.randrange(1, 30)) if i % 3 else None
            rows.append(
                (
                    i,
                    rng.randrange(1, prospects + 1),
                    rng.choice(LEAD_TYPES),
                    rng.choice(SOURCES),
                    rng.choice(CATEGORIES),
                    rng.choice(TIMEFRAMES),
                    rng.choice(STATUSES),
                    rng.choice(DEALERS),
                    "none",
                    due,
                    created,
                )
            )
        self.add(
            "lead",
            [
                "id",
                "prospect_id",
                "lead_type",
                "source",
                "category",
                "purchase_timeframe",
                "follow_up_status",
                "dealer",
                "qualify_state",
                "due_at",
                "created_at",
            ],
            rows,
        )

    def add_messages(self, rng: random.Random, prospects: int, messages: int) -> None:
        # 90% of conversations have messages; times grow with ids, as they do in life.
        talking = int(prospects * 0.9)
        per = messages // talking
        message_rows: list[tuple[Any, ...]] = []
        conversations: list[tuple[Any, ...]] = []
        states: list[tuple[Any, ...]] = []
        times = sorted(when(rng) for _ in range(talking))
        order = list(range(1, talking + 1))
        rng.shuffle(order)
        mid = 0
        for prospect_id, start in zip(order, times, strict=True):
            last_direction = "inbound"
            for k in range(per):
                mid += 1
                last_direction = "inbound" if rng.random() < 0.5 else "outbound"
                message_rows.append(
                    (
                        mid,
                        prospect_id,
                        "email" if k % 3 else "sms",
                        last_direction,
                        "",
                        "",
                        "Hello",
                        "Is the truck still available this week?",
                        "",
                        "",
                        "",
                        "{}",
                        False,
                        "received" if last_direction == "inbound" else "sent",
                        "",
                        "",
                        start + timedelta(minutes=k),
                    )
                )
            assignee = rng.randrange(1, ACCOUNTS + 1) if rng.random() < 0.8 else None
            last_at = start + timedelta(minutes=per - 1)
            conversations.append(
                (prospect_id, prospect_id, assignee, "", last_direction, mid, last_at, start)
            )
            read = rng.random()
            if read < 0.7 or prospect_id % 100 == 0:
                states.append(
                    (prospect_id, 1, prospect_id % 100 == 0, mid if read < 0.7 else mid - 1)
                )
        for prospect_id in range(talking + 1, prospects + 1):
            conversations.append((prospect_id, prospect_id, None, "", None, None, NOW, NOW))
        self.add(
            "conversation",
            [
                "id",
                "prospect_id",
                "assignee_id",
                "subject",
                "last_human_direction",
                "last_message_id",
                "last_activity_at",
                "created_at",
            ],
            conversations,
        )
        self.add(
            "message",
            [
                "id",
                "conversation_id",
                "channel",
                "direction",
                "author_address",
                "author_name",
                "subject",
                "body_text",
                "body_html",
                "in_reply_to",
                "references",
                "recipients",
                "is_automatic",
                "status",
                "error",
                "thread_rule",
                "created_at",
            ],
            message_rows,
        )
        self.add(
            "conversation_state",
            ["conversation_id", "account_id", "flagged", "last_read_message_id"],
            states,
        )

    def add_tasks(self, rng: random.Random, prospects: int) -> None:
        rows = []
        for i in range(1, 20_001):
            due = NOW + timedelta(hours=rng.randrange(-24 * 60, 24 * 60))
            done = due if rng.random() < 0.6 else None
            rows.append(
                (
                    i,
                    rng.randrange(1, prospects + 1),
                    "Call back",
                    due,
                    rng.randrange(1, ACCOUNTS + 1),
                    done,
                    due,
                    due,
                )
            )
        self.add(
            "task",
            [
                "id",
                "prospect_id",
                "description",
                "due_at",
                "assignee_id",
                "completed_at",
                "created_at",
                "updated_at",
            ],
            rows,
        )


ORDER = ["account", "prospect", "conversation", "message", "conversation_state", "lead", "task"]


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def load_sqlite(corpus: Corpus) -> str:
    SQLITE_PATH.unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{SQLITE_PATH}"
    migrate(url)
    db = sqlite3.connect(SQLITE_PATH)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
        db.execute(f'DROP TRIGGER "{name}"')
    for table in ORDER:
        columns, rows = corpus.tables[table]
        sql = (
            f'INSERT INTO "{table}" ({", ".join(f"{c!r}" for c in columns)}) '
            f"VALUES ({', '.join('?' * len(columns))})"
        ).replace("'", '"')
        db.executemany(sql, ([_sqlite_value(v) for v in row] for row in rows))
    db.commit()
    db.execute("ANALYZE")
    db.close()
    return url


async def load_postgresql(corpus: Corpus) -> str:
    import asyncpg

    admin = sa.make_url(PG_ADMIN)
    server = await asyncpg.connect(
        host=admin.host,
        port=admin.port,
        user=admin.username,
        password=admin.password,
        database=admin.database,
    )
    await server.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
    await server.execute(f'CREATE DATABASE "{PG_DB}"')
    await server.close()
    url = admin.set(database=PG_DB).render_as_string(hide_password=False)
    await asyncio.to_thread(migrate, url)
    conn = await asyncpg.connect(
        host=admin.host,
        port=admin.port,
        user=admin.username,
        password=admin.password,
        database=PG_DB,
    )
    for table in ORDER:
        columns, rows = corpus.tables[table]
        await conn.copy_records_to_table(table, records=rows, columns=columns)
    for table in ORDER:
        if table != "conversation_state":  # the one table keyed by two columns
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    await conn.execute("VACUUM ANALYZE")
    await conn.close()
    return url


async def exists(url: str, leads: int) -> bool:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return bool(await conn.scalar(sa.text("SELECT count(*) FROM lead")) == leads)
    except Exception:
        return False
    finally:
        await engine.dispose()


Timed = Callable[[Any], Awaitable[Any]]


async def measure(url: str, runs: int) -> dict[str, tuple[float, float]]:
    engine = make_engine(url)
    maker = make_sessionmaker(engine)
    actor = Actor(id=1, role=Role.CONTACT_MANAGER, name="CM 1", email="cm1@oem.test")
    async with maker() as s:
        await s.execute(sa.text("DELETE FROM saved_view"))
        views = [await do_create_queue(s, actor, msgspec.convert(v, QueueCreate)) for v in VIEWS]
        await s.commit()
    cases: list[tuple[str, Timed]] = [
        ("conversation counts (all six)", lambda s: count_conversations(s, actor)),
    ]
    for name in ("all", "mine", "needs_reply", "replied", "flagged", "unread"):
        cases.append((f"conversations: {name}, first page", _conv(actor, name)))
    cases.append(("queues with counts (six views)", lambda s: list_queues(s, actor)))
    for v in views:
        cases.append((f"queue '{v.name}', first page", _queue(actor, v.id)))
    cases.append(("task grid, default", lambda s: list_tasks(s, actor, TaskFilter(), NOW)))
    cases.append(("dashboard", lambda s: get_dashboard(s, actor, NOW)))
    results = {}
    for label, call in cases:
        samples = []
        for _ in range(runs + 2):
            async with maker() as s:
                start = time.perf_counter()
                await call(s)
                samples.append((time.perf_counter() - start) * 1000)
        samples = samples[2:]  # warm-up
        results[label] = (statistics.median(samples), _p95(samples))
    await engine.dispose()
    return results


def _conv(actor: Actor, name: str) -> Timed:
    return lambda s: list_conversations(s, actor, name, limit=50)  # type: ignore[arg-type]


def _queue(actor: Actor, view_id: int) -> Timed:
    return lambda s: list_queue_leads(s, actor, view_id, limit=50)


def _p95(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def table(backends: Iterable[str], results: dict[str, dict[str, tuple[float, float]]]) -> str:
    names = list(backends)
    lines = [
        "| use case | " + " | ".join(f"{b} p50 / p95 (ms)" for b in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    labels = next(iter(results.values())).keys()
    for label in labels:
        cells = [f"{results[b][label][0]:.1f} / {results[b][label][1]:.1f}" for b in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


INTRO = """`python bench/queues.py` (add `--prospects 10000 --leads 25000 --messages 100000` for a
quick run, `--reuse` to keep the corpus). It times, as the API runs them, the sidebar's six
conversation counts (one call), the first page (50) of each conversation filter, the lead queues
with their counts and the first page of each, the task grid's default and the dashboard. Target:
under 100 ms p95 on both databases at 100,000 prospects, 250,000 leads and 1,000,000 messages.

"""


def write_readme(text: str) -> None:
    path = ROOT / "bench" / "README.md"
    start, end = "<!-- queues-figures:start -->", "<!-- queues-figures:end -->"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{text}\n{end}"
    if start in current:
        head, rest = current.split(start, 1)
        current = head + block + rest.split(end, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n## Queues and filters\n\n" + INTRO + block + "\n"
    path.write_text(current)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="sqlite,postgresql")
    parser.add_argument("--prospects", type=int, default=100_000)
    parser.add_argument("--leads", type=int, default=250_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    backends = args.backend.split(",")
    corpus: Corpus | None = None
    results = {}
    for backend in backends:
        url = (
            f"sqlite+aiosqlite:///{SQLITE_PATH}"
            if backend == "sqlite"
            else sa.make_url(PG_ADMIN).set(database=PG_DB).render_as_string(hide_password=False)
        )
        if not (args.reuse and await exists(url, args.leads)):
            start = time.perf_counter()
            corpus = corpus or Corpus(args.prospects, args.leads, args.messages)
            url = load_sqlite(corpus) if backend == "sqlite" else await load_postgresql(corpus)
            print(f"{backend}: loaded in {time.perf_counter() - start:.0f} s", flush=True)
        results[backend] = await measure(url, args.runs)
        for label, (p50, p95) in results[backend].items():
            print(f"{backend:10} {label:45} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms", flush=True)
    report = (
        f"Last run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `python bench/queues.py` "
        f"({args.prospects:,} prospects, {args.leads:,} leads, {args.messages:,} messages, "
        f"{args.runs} runs each, SQLite {sqlite3.sqlite_version}, Python "
        f"{sys.version.split()[0]}, 2 cores shared)\n\n" + table(backends, results)
    )
    print(report)
    if not args.no_readme:
        write_readme(report)


if __name__ == "__main__":
    asyncio.run(main())
