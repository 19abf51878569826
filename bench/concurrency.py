"""Everyday writes by many clients at once against `inbox serve`, on SQLite and PostgreSQL.

    python bench/concurrency.py [--backend sqlite,postgresql] [--workers 1,2]
                                [--clients 9,30,100] [--users 3] [--writes 12] [--no-readme]

For each database, number of web workers and number of clients: a fresh database (migrated
through the real migrations), `--users` contact managers, `inbox serve --workers W` in its own
process (Redis for live events when W > 1), 8 prospects created over the API; then every client
signs in as one of the users and, all starting together, makes `--writes` writes in a seeded
order (mark read, flag, unflag, create a task, assign, queue an email; tests/support/workload.py),
each awaited before its next, on those 8 shared conversations. Prints the requests, the 5xx and
transport errors, throughput and p50/p99 latency, and checks the database: every write made
once (tasks and queued emails against the 2xx answers) and every user's event log gapless. At
the end the "Concurrent writes" section of bench/README.md is rewritten (unless --no-readme).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from inbox.accounts.models import Role  # noqa: E402
from inbox.accounts.schemas import AccountCreate  # noqa: E402
from inbox.accounts.service import do_create_account  # noqa: E402
from inbox.core.db import make_engine, make_sessionmaker, migrate  # noqa: E402
from tests.support.live import ServerProcess, free_port, server_env  # noqa: E402
from tests.support.workload import (  # noqa: E402
    PASSWORD,
    Outcome,
    check_database,
    create_prospects,
    run_load,
    sign_in,
)

PG_ADMIN = os.environ.get(
    "INBOX_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
PG_DB = "inbox_bench_concurrency"
REDIS_URL = os.environ.get("INBOX_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


async def fresh_database(backend: str, data_dir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{data_dir / 'bench.db'}"
    admin = make_engine(PG_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
        await conn.execute(sa.text(f'CREATE DATABASE "{PG_DB}"'))
    await admin.dispose()
    return sa.make_url(PG_ADMIN).set(database=PG_DB).render_as_string(hide_password=False)


async def create_users(url: str, count: int) -> list[tuple[int, str]]:
    engine = make_engine(url)
    users = []
    async with make_sessionmaker(engine)() as session:
        for n in range(count):
            email = f"cmu{n}@oem.test"
            read = await do_create_account(
                session,
                None,
                AccountCreate(
                    email=email, name=f"Cmu {n}", role=Role.CONTACT_MANAGER, password=PASSWORD
                ),
            )
            users.append((read.id, email))
        await session.commit()
    await engine.dispose()
    return users


async def one_run(
    backend: str, workers: int, clients: int, users: int, writes: int
) -> tuple[Outcome, list[str]]:
    with tempfile.TemporaryDirectory(prefix="inbox-bench-conc-") as tmp:
        data_dir = Path(tmp)
        url = await fresh_database(backend, data_dir)
        await asyncio.to_thread(migrate, url)
        accounts = await create_users(url, users)
        port = free_port()
        extra = (
            {"INBOX_REDIS_URL": REDIS_URL, "INBOX_REDIS_PREFIX": f"bench{port}"}
            if workers > 1
            else {}
        )
        env = server_env(url, data_dir, port, **extra)
        server = ServerProcess(env, port)
        server.extra_args = ["--workers", str(workers)]
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=server.url, headers={"origin": server.url}) as c:
                await sign_in(c, accounts[0][1])
                prospects = await create_prospects(c, 8)
            outcome = await run_load(
                server.url, accounts, clients=clients, writes=writes, prospects=prospects
            )
        finally:
            log = await server.stop()
        engine = make_engine(url)
        problems = await check_database(engine, outcome)
        await engine.dispose()
        if outcome.server_errors:
            problems.append("server log tail: " + log[-1500:].replace("\n", " | "))
        return outcome, problems


def row(backend: str, workers: int, clients: int, outcome: Outcome, problems: list[str]) -> str:
    errors = outcome.server_errors + len(outcome.transport_errors)
    return (
        f"| {backend} | {workers} | {clients} | {outcome.requests} | {errors} "
        f"| {outcome.throughput:.0f} | {outcome.percentile(50) * 1000:.0f} "
        f"| {outcome.percentile(99) * 1000:.0f} | {'yes' if not problems else 'NO'} |"
    )


HEADER = (
    "| database | web workers | clients | requests | errors (5xx + transport) | writes/s "
    "| p50 ms | p99 ms | each write once, logs gapless |\n|---|---|---|---|---|---|---|---|---|"
)


def write_readme(table: str, args: argparse.Namespace) -> None:
    path = ROOT / "bench" / "README.md"
    start, end = "<!-- concurrency-figures:start -->", "<!-- concurrency-figures:end -->"
    text = path.read_text()
    load = os.getloadavg()[0]
    block = (
        f"{start}\n`python bench/concurrency.py --users {args.users} --writes {args.writes}`"
        f" (load average {args.load_before:.1f} at the start, {load:.1f} at the end):"
        f"\n\n{table}\n{end}"
    )
    if start in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text += f"\n{block}\n"
    path.write_text(text)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="sqlite,postgresql")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--clients", default="9,30,100")
    parser.add_argument("--users", type=int, default=3)
    parser.add_argument("--writes", type=int, default=12)
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--by-kind", action="store_true", help="print p50 per kind of write")
    args = parser.parse_args()
    args.load_before = os.getloadavg()[0]
    rows = [HEADER]
    print(HEADER, flush=True)
    failed = False
    for backend in args.backend.split(","):
        for workers in (int(w) for w in args.workers.split(",")):
            for clients in (int(c) for c in args.clients.split(",")):
                outcome, problems = await one_run(
                    backend, workers, clients, args.users, args.writes
                )
                line = row(backend, workers, clients, outcome, problems)
                rows.append(line)
                print(line, flush=True)
                if args.by_kind:
                    for kind, values in sorted(outcome.kind_latencies.items()):
                        values.sort()
                        print(
                            f"    {kind}: p50 {values[len(values) // 2] * 1000:.0f} ms", flush=True
                        )
                for problem in problems:
                    print(f"    {problem}", flush=True)
                failed |= bool(problems or outcome.server_errors or outcome.transport_errors)
    if not args.no_readme:
        write_readme("\n".join(rows), args)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
