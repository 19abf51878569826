"""The IMAP watcher: reads the reply mailbox with IDLE (polling when the server lacks it) and
hands each batch of new mail to the domain.

Progress is the mailbox's UIDVALIDITY and the last UID stored, kept in the database and
advanced in the batch's own transaction; `\\Seen` is never relied on (BODY.PEEK leaves it alone).
A UIDVALIDITY change re-reads the mailbox from the start, and Message-IDs drop what is already
stored. With several processes, a lease row lets exactly one of them watch a mailbox; another
takes over when the holder stops renewing it. Connection trouble of any kind is retried with
backoff, forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import secrets
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import aioimaplib
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.email.parse import parse_message
from channels.email.parser_process import ParserProcess
from channels.email.tls import client_context, untrusted_certificate, untrusted_message
from inbox.conversations.attachments import AttachmentStore
from inbox.core.ports import Clock, EventPublisher, SystemClock
from inbox.email.mailboxes import Cursor, LeaseLost, do_acquire_lease, do_ingest, do_release_lease
from inbox.email.placement import ThreadingContext
from inbox.email.schemas import InboundMessage

log = logging.getLogger(__name__)

Tls = Literal["none", "starttls", "tls"]
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_FETCH_UID = re.compile(rb"\bUID (\d+)")
# A catch-up of at least this many chunks parses in a process of its own (`ParserProcess`).
PARSER_PROCESS_CHUNKS = 3


class ImapError(Exception):
    """The server refused a command; the watcher reconnects after a pause."""


@dataclass(frozen=True, slots=True)
class ImapConfig:
    host: str
    port: int
    username: str
    password: str
    tls: Tls = "tls"
    mailbox: str = "INBOX"
    # A PEM bundle of the CAs to trust instead of the system's (INBOX_TLS_CA_FILE).
    ca_file: str | None = None

    @property
    def name(self) -> str:
        """The key of this mailbox's progress and lease."""
        return f"imap://{self.username}@{self.host}:{self.port}/{self.mailbox}"


@dataclass
class IngestStats:
    """Where the time goes, for the benchmark and the logs."""

    messages: int = 0
    fetch_seconds: float = 0.0
    parse_seconds: float = 0.0
    store_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


def backoff(failures: int) -> float:
    """1 s, 2 s, 4 s ... capped at a minute, with jitter so restarts do not stampede."""
    return min(60.0, 2.0 ** max(0, failures - 1)) * random.uniform(0.8, 1.2)  # noqa: S311


def fetched_messages(lines: Sequence[Any]) -> dict[int, bytes]:
    """UID -> raw message from the lines of a `UID FETCH ... (UID BODY.PEEK[])` response."""
    out: dict[int, bytes] = {}
    uid: int | None = None
    literal: bytes | None = None
    for line in lines:
        if isinstance(line, bytearray):
            literal = bytes(line)
        elif isinstance(line, bytes) and (found := _FETCH_UID.search(line)):
            uid = int(found.group(1))
        elif isinstance(line, bytes) and b" FETCH " in line:
            uid = None  # a new message's response without its UID yet
        if uid is not None and literal is not None:
            out[uid] = literal
            uid, literal = None, None
    return out


async def _starttls(client: Any, host: str, context: ssl.SSLContext) -> None:
    # aioimaplib 2.0.3 has no STARTTLS helper (and `simple_command` refuses it): ask, then
    # upgrade the transport in place and ask for the capabilities again (RFC 3501 6.2.1).
    protocol = client.protocol
    command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
    response = await asyncio.wait_for(protocol.execute(command), client.timeout)
    if response.result != "OK":
        raise ImapError(f"STARTTLS refused: {response.lines}")
    loop = asyncio.get_running_loop()
    transport = await loop.start_tls(
        client.protocol.transport, client.protocol, context, server_hostname=host
    )
    client.protocol.transport = transport
    await asyncio.wait_for(client.protocol.capability(), client.timeout)


class ImapWatcher:
    """Watches one mailbox and ingests its mail. `run()` forever; `sync_once()` one pass."""

    def __init__(
        self,
        config: ImapConfig,
        sessionmaker: async_sessionmaker[AsyncSession],
        publisher: EventPublisher,
        *,
        context: ThreadingContext,
        store: AttachmentStore,
        holder: str | None = None,
        lease: timedelta = timedelta(seconds=60),
        poll_interval: float = 60.0,
        batch_size: int = 100,
        clock: Clock | None = None,
        parse: Callable[[bytes], Any] = parse_message,
    ) -> None:
        self.config = config
        self.sessionmaker = sessionmaker
        self.publisher = publisher
        self.context = context
        self.store = store
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lease = lease
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.clock = clock or SystemClock()
        self.parse = parse
        self.stats = IngestStats()
        self.parser_processes = 0  # how many backlogs were parsed in a process of their own
        self.connected = asyncio.Event()  # set while holding the lease and connected
        self._caught_up = False

    async def _acquire(self) -> Cursor | None:
        async with self.sessionmaker() as session:
            cursor = await do_acquire_lease(
                session, self.config.name, self.holder, self.clock.now(), self.lease
            )
            await session.commit()
        return cursor

    async def _release(self) -> None:
        async with self.sessionmaker() as session:
            await do_release_lease(session, self.config.name, self.holder)
            await session.commit()

    async def _connect(self) -> tuple[Any, int]:
        cfg = self.config
        context = client_context(cfg.ca_file)
        if cfg.tls == "tls":
            client = aioimaplib.IMAP4_SSL(
                host=cfg.host, port=cfg.port, timeout=30, ssl_context=context
            )
        else:
            client = aioimaplib.IMAP4(host=cfg.host, port=cfg.port, timeout=30)
        try:
            try:
                await client.wait_hello_from_server()
                if cfg.tls == "starttls":
                    await _starttls(client, cfg.host, context)
            except Exception as exc:
                untrusted = untrusted_certificate(exc)
                if untrusted is not None:
                    raise ImapError(untrusted_message("IMAP", untrusted)) from exc
                raise
            response = await client.login(cfg.username, cfg.password)
            if response.result != "OK":
                raise ImapError(f"login refused for {cfg.username}")
            response = await client.select(cfg.mailbox)
            if response.result != "OK":
                raise ImapError(f"cannot select {cfg.mailbox}: {response.lines}")
        except BaseException:
            await self._close(client)
            raise
        found = next(
            (m for line in response.lines if (m := _UIDVALIDITY.search(bytes(line)))), None
        )
        if found is None:
            await self._close(client)
            raise ImapError("the server did not say the mailbox's UIDVALIDITY")
        return client, int(found.group(1))

    async def _close(self, client: Any) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.logout(), 5)

    async def _new_uids(self, client: Any, after: int) -> list[int]:
        response = await client.uid_search(f"UID {after + 1}:*", charset=None)
        if response.result != "OK":
            raise ImapError(f"UID SEARCH failed: {response.lines}")
        uids = {int(u) for line in response.lines[:-1] for u in bytes(line).split() if u.isdigit()}
        # `UID n:*` always matches the last message, even below n.
        return sorted(u for u in uids if u > after)

    async def _fetch(self, client: Any, uids: list[int]) -> dict[int, bytes]:
        response = await client.uid("fetch", ",".join(map(str, uids)), "(UID BODY.PEEK[])")
        if response.result != "OK":
            raise ImapError(f"UID FETCH failed: {response.lines}")
        return fetched_messages(response.lines)

    async def _read(
        self, client: Any, chunk: list[int], parser: ParserProcess | None = None
    ) -> list[tuple[int, InboundMessage]]:
        """Fetch a chunk of UIDs and parse what came (in `parser`'s process, or a thread)."""
        began = time.perf_counter()
        fetched = await self._fetch(client, chunk)
        fetched_at = time.perf_counter()
        uids = sorted(fetched)
        raws = [fetched[u] for u in uids]
        if parser is not None:
            parsed = await parser.parse(raws)
        else:
            parsed = await asyncio.to_thread(lambda: [self.parse(raw) for raw in raws])
        self.stats.fetch_seconds += fetched_at - began
        self.stats.parse_seconds += time.perf_counter() - fetched_at
        return list(zip(uids, parsed, strict=True))

    async def _ingest(
        self, cursor: Cursor, batch: list[tuple[int, InboundMessage]], last: int
    ) -> Cursor:
        started = time.perf_counter()
        advanced = Cursor(cursor.uidvalidity, max(cursor.last_uid, last))
        async with self.sessionmaker() as session:
            result = await do_ingest(
                session,
                self.config.name,
                self.holder,
                batch,
                advanced,
                context=self.context,
                store=self.store,
                now=self.clock.now(),
                ttl=self.lease,
                timings=self.stats.timings,
            )
            await session.commit()
        # Each message's events go out only after the transaction that stored it committed.
        await self.publisher.publish(result.events)
        self.stats.store_seconds += time.perf_counter() - started
        self.stats.messages += len(batch)
        if result.failed:
            log.warning(
                "%s: %d message(s) kept raw as unplaceable", self.config.name, result.failed
            )
        return advanced

    async def catch_up(self, client: Any, uidvalidity: int) -> int:
        """Ingest everything after the stored cursor; the number of messages read. The next
        chunk is fetched and parsed while the current one is stored (its database round trips
        leave the process idle); only the store advances the cursor, so a chunk read ahead and
        never stored is simply read again."""
        cursor = await self._acquire()
        if cursor is None:
            raise LeaseLost(f"{self.config.name} is held by another process")
        if cursor.uidvalidity != uidvalidity:
            if cursor.uidvalidity:
                log.warning("%s: UIDVALIDITY changed; re-reading it all", self.config.name)
            cursor = Cursor(uidvalidity, 0)
        uids = await self._new_uids(client, cursor.last_uid)
        chunks = [uids[i : i + self.batch_size] for i in range(0, len(uids), self.batch_size)]
        parser = await self._parser_for(len(chunks))
        ahead: asyncio.Task[list[tuple[int, InboundMessage]]] | None = None
        try:
            for n, chunk in enumerate(chunks):
                batch = (
                    await ahead if ahead is not None else await self._read(client, chunk, parser)
                )
                ahead = None
                if n + 1 < len(chunks):
                    ahead = asyncio.create_task(self._read(client, chunks[n + 1], parser))
                cursor = await self._ingest(cursor, batch, chunk[-1])
        finally:
            if ahead is not None:
                # A store failed (or we are cancelled): drop the chunk read ahead; the
                # connection is closed after this, so a reply cut short does no harm.
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)
            if parser is not None:
                await asyncio.shield(parser.close())
        return len(uids)

    async def _parser_for(self, chunks: int) -> ParserProcess | None:
        """A parsing process for a backlog (mail that waited while the app was down, a
        re-scan), worth its start-up from `PARSER_PROCESS_CHUNKS` chunks on; new mail a few
        messages at a time is parsed in a thread. None when it cannot start."""
        if chunks < PARSER_PROCESS_CHUNKS or self.parse is not parse_message:
            return None
        try:
            parser = await ParserProcess.start()
        except OSError as exc:
            log.warning("cannot start a parsing process (%s); parsing in a thread", exc)
            return None
        self.parser_processes += 1
        return parser

    async def sync_once(self) -> int:
        """Connect, ingest what is new, disconnect (without releasing the lease)."""
        client, uidvalidity = await self._connect()
        try:
            return await self.catch_up(client, uidvalidity)
        finally:
            await self._close(client)

    async def _wait_for_mail(self, client: Any) -> None:
        renew = max(1.0, self.lease.total_seconds() / 3)
        if not client.has_capability("IDLE"):
            await asyncio.sleep(min(self.poll_interval, renew))
            return
        idle = await client.idle_start(timeout=renew)
        try:
            with contextlib.suppress(TimeoutError):
                await client.wait_server_push(timeout=renew + 5)
        finally:
            client.idle_done()
            await asyncio.wait_for(idle, 10)

    async def _watch(self) -> None:
        client, uidvalidity = await self._connect()
        try:
            while True:
                await self.catch_up(client, uidvalidity)
                self._caught_up = True
                self.connected.set()
                await self._wait_for_mail(client)
        finally:
            self.connected.clear()
            await self._close(client)

    async def run(self) -> None:
        """Until cancelled: hold the lease, catch up, then wait for new mail."""
        failures = 0
        try:
            while True:
                try:
                    if await self._acquire() is None:
                        await asyncio.sleep(max(1.0, self.lease.total_seconds() / 3))
                        continue
                    await self._watch()
                except LeaseLost as exc:
                    log.info("%s", exc)
                    failures = 0
                except Exception as exc:
                    # A connection that worked for a while starts the backoff over.
                    failures = 1 if self._caught_up else failures + 1
                    self._caught_up = False
                    delay = backoff(failures)
                    log.warning(
                        "%s: %s: %s; retrying in %.0f s",
                        self.config.name,
                        type(exc).__name__,
                        exc,
                        delay,
                    )
                    await asyncio.sleep(delay)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._release(), 5)
