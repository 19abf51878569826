"""Everyday writes by several users at once, over HTTP: the load of `bench/concurrency.py` and,
smaller, of `tests/integration/test_concurrent_writes.py`.

Each client signs in as one of the users and runs a fixed, seeded sequence of the writes a
contact manager makes all day (mark read, flag, unflag, create a task, assign, queue an email)
on a few shared conversations, so that users collide on the same rows as a busy team does.
`check_database` then verifies every write happened exactly once and every user's event log is
gapless.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

PASSWORD = "correct horse battery"
KINDS = ("read", "flag", "unflag", "task", "assign", "email")


@dataclass
class Outcome:
    """What the clients saw: status codes per kind of write, latencies, transport errors."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    kind_latencies: dict[str, list[float]] = field(default_factory=dict)
    transport_errors: list[str] = field(default_factory=list)
    # The writes the server said it made (2xx), to compare with the database.
    tasks_created: int = 0
    emails_queued: int = 0
    started: float = 0.0
    finished: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for (_, status), n in self.statuses.items() if status >= 500)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    @property
    def throughput(self) -> float:
        return self.requests / max(self.finished - self.started, 1e-9)


async def sign_in(client: httpx.AsyncClient, email: str) -> None:
    response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    response.raise_for_status()
    client.headers["x-csrf-token"] = response.json()["csrf_token"]


async def create_prospects(client: httpx.AsyncClient, count: int) -> list[tuple[int, int, str]]:
    """(prospect id, conversation id, email) of `count` new prospects."""
    made = []
    for i in range(count):
        email = f"buyer{i}.{random.randrange(10**9)}@example.com"
        response = await client.post(
            "/api/prospects",
            json={"first_name": f"Buyer{i}", "last_name": "Load", "emails": [email]},
        )
        response.raise_for_status()
        body = response.json()
        made.append((body["id"], body["conversation_id"], email))
    return made


def _request(
    kind: str, prospect: tuple[int, int, str], account_ids: list[int], rng: random.Random, n: int
) -> tuple[str, str, dict[str, Any] | None]:
    prospect_id, conversation_id, email = prospect
    base = f"/api/conversations/{conversation_id}"
    if kind == "read":
        return "POST", f"{base}/read", None
    if kind == "flag":
        return "PUT", f"{base}/flag", None
    if kind == "unflag":
        return "DELETE", f"{base}/flag", None
    if kind == "assign":
        return "PUT", f"{base}/assignee", {"assignee_id": rng.choice(account_ids)}
    if kind == "task":
        due = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        return (
            "POST",
            "/api/tasks",
            {"prospect_id": prospect_id, "description": f"Call {n}", "due_at": due},
        )
    body = {"channel": "email", "subject": f"Re {n}", "body_text": f"Hello {n}", "to": [email]}
    return "POST", f"{base}/messages", body


async def run_client(
    base_url: str,
    email: str,
    prospects: list[tuple[int, int, str]],
    account_ids: list[int],
    writes: int,
    seed: int,
    outcome: Outcome,
    start: asyncio.Event,
) -> None:
    """One browser's worth of writes, in a seeded order, each awaited before the next."""
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, headers={"origin": base_url}) as c:
        await sign_in(c, email)
        await start.wait()
        for n in range(writes):
            kind = KINDS[(seed + n) % len(KINDS)]
            method, url, body = _request(kind, rng.choice(prospects), account_ids, rng, n)
            began = time.perf_counter()
            try:
                response = await c.request(method, url, json=body)
            except httpx.HTTPError as exc:
                outcome.transport_errors.append(f"{kind}: {exc!r}")
                continue
            outcome.latencies.append(time.perf_counter() - began)
            outcome.kind_latencies.setdefault(kind, []).append(outcome.latencies[-1])
            outcome.statuses[(kind, response.status_code)] += 1
            if response.status_code < 300:
                outcome.tasks_created += kind == "task"
                outcome.emails_queued += kind == "email"


async def run_load(
    base_url: str,
    users: list[tuple[int, str]],
    *,
    clients: int,
    writes: int,
    prospects: list[tuple[int, int, str]],
    seed: int = 1,
) -> Outcome:
    """`clients` concurrent clients spread over `users` ((account id, email) pairs), each
    making `writes` writes; returns what they saw."""
    outcome = Outcome()
    start = asyncio.Event()
    account_ids = [account_id for account_id, _ in users]
    runners = [
        run_client(
            base_url,
            users[i % len(users)][1],
            prospects,
            account_ids,
            writes,
            seed * 1000 + i,
            outcome,
            start,
        )
        for i in range(clients)
    ]
    tasks = [asyncio.create_task(r) for r in runners]
    await asyncio.sleep(0.5)  # let every client sign in before the writes start together
    outcome.started = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    outcome.finished = time.perf_counter()
    return outcome


async def check_database(
    engine: AsyncEngine, outcome: Outcome, *, tasks_before: int = 0, emails_before: int = 0
) -> list[str]:
    """What is wrong in the database after a load: a write made twice or lost, or an account
    whose event log has a gap or a duplicate. Empty when all is well."""
    problems: list[str] = []
    async with engine.connect() as conn:
        tasks = await conn.scalar(sa.text("SELECT count(*) FROM task"))
        emails = await conn.scalar(
            sa.text(
                "SELECT count(*) FROM message WHERE direction = 'outbound' AND channel = 'email'"
            )
        )
        if tasks != tasks_before + outcome.tasks_created:
            problems.append(f"{tasks} tasks for {tasks_before}+{outcome.tasks_created} created")
        if emails != emails_before + outcome.emails_queued:
            problems.append(f"{emails} emails for {emails_before}+{outcome.emails_queued} queued")
        rows = await conn.execute(
            sa.text(
                "SELECT a.id, a.event_seq, count(e.seq), min(e.seq), max(e.seq),"
                " count(DISTINCT e.seq) FROM account a LEFT JOIN event e ON e.account_id = a.id"
                " GROUP BY a.id, a.event_seq"
            )
        )
        for account_id, counter, count, low, high, distinct in rows.all():
            if count and (low != 1 or high != counter or distinct != count or count != counter):
                problems.append(
                    f"account {account_id}: counter {counter}, {count} events,"
                    f" seq {low}..{high}, {distinct} distinct"
                )
    return problems
