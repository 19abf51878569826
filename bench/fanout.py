"""Fan-out latency and memory of the websocket event stream, against a bare `websockets` yardstick.

    python bench/fanout.py [--sizes 100,1000,10000] [--rounds N] [--gc default,freeze]

For each size N: start `bench/fanout_server.py inbox` (the real app on one uvicorn process,
pinned to core 0) with N seeded accounts, open N websocket clients from this process (pinned to
core 1), then fire rounds: the server records one `conversation.updated` event for every account,
commits, notes the time and publishes; every client notes when the frame arrives. Latency is
arrival minus commit. Then the same with `bench/fanout_server.py bare` (`websockets.broadcast()`
of the same frame bytes; latency from right before the broadcast). Memory per connection is
(RSS with N idle connections - RSS with none) / N.

At the end the figures section of bench/README.md is rewritten (unless --no-readme).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.metadata
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.uri import WebSocketURI, parse_uri

BENCH = Path(__file__).resolve().parent
SERVER_SCRIPT = BENCH / "fanout_server.py"
README = BENCH / "README.md"
FIGURES_START = "<!-- fanout-figures:start -->"
FIGURES_END = "<!-- fanout-figures:end -->"
SERVER_CORE = 0  # as fanout_server.py pins itself
DRIVER_CORE = 1
HELLO = json.dumps({"type": "hello", "after": 0})
EVENT_PREFIX = '{"type":"conversation.updated"'
EVENT_PREFIX_BYTES = EVENT_PREFIX.encode()
ROUND_TIMEOUT = 120.0
PAUSE_BETWEEN_ROUNDS = 0.3
QUIET = 0.05  # other processes' share of the machine below which it counts as quiet

# Targets.
P99_LIMITS_MS = {100: 50.0, 1000: 150.0}
RATIO_LIMIT_SIZE = 10_000
RATIO_LIMIT = 1.5
MEMORY_LIMIT_KB = 50.0
HELD_SIZE = 10_000


def token_for(account_id: int) -> str:
    return f"bench-token-{account_id}"  # as seeded by fanout_server.py


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest rank."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Run:
    """One server kind at one size under one GC setting."""

    kind: str
    size: int
    gc_mode: str
    latencies_ms: list[float] = field(default_factory=list)
    kb_per_connection: float = 0.0
    held: bool = False
    server_notes: list[dict[str, Any]] = field(default_factory=list)
    gc_stats: dict[str, Any] = field(default_factory=dict)
    others: float = 0.0  # share of the machine other processes used during the kept rounds
    disturbed_rounds: int = 0  # rounds dropped (and repeated) because others used the machine

    def stat(self, q: float) -> float:
        return percentile(sorted(self.latencies_ms), q) if self.latencies_ms else math.nan

    @property
    def p50(self) -> float:
        return self.stat(0.50)

    @property
    def p99(self) -> float:
        return self.stat(0.99)

    @property
    def max(self) -> float:
        return self.stat(1.0)

    def mean_note(self, key: str) -> float:
        values = [n[key] for n in self.server_notes if key in n]
        return sum(values) / len(values) if values else math.nan


class CpuMeter:
    """CPU time that processes other than the bench's took on this machine, as a share of all
    its cores: other work on a shared machine shows up as latency, so it is measured and shown.
    Kernel threads are left out: they write the server's SQLite pages back to disk."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = set(pids)
        self.tick = os.sysconf("SC_CLK_TCK")
        self.start = self._sample()

    def _sample(self) -> tuple[float, int, int]:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        busy = sum(int(v) for v in fields[1:4])  # user, nice, system
        ours = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                pid, ppid = int(entry.name), int(stat[1])
                if pid in self.pids or pid == 2 or ppid == 2:
                    ours += int(stat[11]) + int(stat[12])  # utime, stime
        return time.monotonic(), busy, ours

    def others(self) -> float:
        now, busy, ours = self._sample()
        started, busy0, ours0 = self.start
        capacity = (now - started) * self.tick * (os.cpu_count() or 1)
        return max(0.0, (busy - busy0) - (ours - ours0)) / capacity if capacity else 0.0


async def wait_until_quiet(pids: list[int], patience: float) -> float:
    """Wait (up to `patience` seconds) for a 2-second window in which other processes use under
    QUIET of the machine; the last window's share either way."""
    deadline = time.monotonic() + patience
    while True:
        meter = CpuMeter(pids)
        await asyncio.sleep(2.0)
        share = meter.others()
        if share < QUIET or time.monotonic() > deadline:
            if share >= QUIET:
                log(f"the machine is busy: others use {share:.0%} of it; measuring anyway")
            return share
        log(f"waiting for a quiet machine (others use {share:.0%} of it)")


class ServerProcess:
    """A `fanout_server.py` subprocess, driven one JSON line at a time."""

    def __init__(self, kind: str, size: int, workdir: Path) -> None:
        self.kind = kind
        self.size = size
        self.port = free_port()
        self.workdir = workdir / f"{kind}-{size}"
        self.process: asyncio.subprocess.Process | None = None
        self.stderr_path = self.workdir / "stderr.log"

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> dict[str, Any]:
        self.workdir.mkdir(parents=True)
        args = [str(SERVER_SCRIPT), self.kind, "--port", str(self.port)]
        if self.kind == "inbox":
            args += ["--accounts", str(self.size), "--data-dir", str(self.workdir)]
        with self.stderr_path.open("wb") as stderr:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
        return await self._read(within=600)

    async def command(self, line: str, within: float = ROUND_TIMEOUT) -> dict[str, Any]:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()
        return await self._read(within)

    async def _read(self, within: float) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), within)
        if not line:
            await self.process.wait()
            raise RuntimeError(
                f"{self.kind} server exited ({self.process.returncode}):\n"
                + self.stderr_path.read_text()[-4000:]
            )
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{self.kind} server: {reply['error']}")
        return reply

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        with contextlib.suppress(Exception):
            assert self.process.stdin is not None
            self.process.stdin.write(b"quit\n")
            await self.process.stdin.drain()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


class Clients:
    """N websocket clients; each notes when the current round's frame reaches it."""

    def __init__(self, url: str, size: int, with_cookies: bool) -> None:
        self.url = url
        self.size = size
        self.with_cookies = with_cookies
        self.arrived = [math.nan] * size
        self.frames: list[str | bytes] = [""] * size
        self.count = 0
        self.closed = 0
        self.done = asyncio.Event()

    def headers(self, index: int) -> dict[str, str]:
        return {"cookie": f"inbox_session={token_for(index + 1)}"} if self.with_cookies else {}

    async def connect(self, batch: int) -> None:
        """In batches, so the handshakes (and the server's session look-ups) do not time out."""
        for start in range(0, self.size, batch):
            indexes = range(start, min(start + batch, self.size))
            await asyncio.gather(*(self.open(i) for i in indexes))

    async def open(self, index: int) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def arrive(self, index: int, arrived: float, message: str | bytes) -> None:
        if message[: len(EVENT_PREFIX)] in (EVENT_PREFIX, EVENT_PREFIX_BYTES):
            self.arrived[index] = arrived
            self.frames[index] = message
            self.count += 1
            if self.count == self.size:
                self.done.set()

    async def round(self, server: ServerProcess) -> tuple[list[float], dict[str, Any]]:
        """Fire once; the latency of every client in ms, and the server's note."""
        self.arrived = [math.nan] * self.size
        self.count = 0
        self.done.clear()
        note = await server.command("fire")
        if note["seq"] != note["seq_max"]:
            raise RuntimeError(f"accounts got different sequences: {note}")
        try:
            await asyncio.wait_for(self.done.wait(), ROUND_TIMEOUT)
        except TimeoutError:
            raise RuntimeError(
                f"{self.size - self.count} of {self.size} clients got no frame "
                f"({self.closed} closed)"
            ) from None
        for frame in self.frames:
            if json.loads(frame)["seq"] != note["seq"]:
                raise RuntimeError(f"expected seq {note['seq']}, got {frame[:120]!r}")
        return [(a - note["t"]) * 1e3 for a in self.arrived], note


class AsyncioClients(Clients):
    """The `websockets` asyncio client, one reader task per socket: what an application would
    write. About 25 us of client work per frame on this machine, so at 10,000 sockets the
    client, not the server, sets the pace of a fast server (see bench/README.md)."""

    def __init__(self, url: str, size: int, with_cookies: bool) -> None:
        super().__init__(url, size, with_cookies)
        self.sockets: list[ClientConnection] = []
        self.readers: list[asyncio.Task[None]] = []

    async def open(self, index: int) -> None:
        ws = await connect(
            self.url,
            additional_headers=self.headers(index),
            compression=None,
            proxy=None,
            open_timeout=120,
            ping_interval=None,  # browsers do not ping; the server's pings are answered
            max_size=2**22,
        )
        await ws.send(HELLO)
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
            if frame["type"] == "ready":
                break
            if frame["type"] in ("error", "resync"):
                raise RuntimeError(f"client {index}: {frame}")
        self.sockets.append(ws)
        self.readers.append(asyncio.create_task(self._receive(index, ws)))

    async def _receive(self, index: int, ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            async for message in ws:
                self.arrive(index, time.time(), message)
        self.closed += 1

    def abort(self) -> None:
        for task in self.readers:
            task.cancel()
        for ws in self.sockets:
            ws.transport.abort()


class SansIOClients(Clients):
    """The `websockets` Sans-I/O client for the handshake and for what the client sends (hello,
    pongs); server frames are read straight off the transport. The arrival is stamped before
    any parsing and a frame costs a few microseconds, so the client keeps up with a server that
    writes a frame every 8 us."""

    def __init__(self, url: str, size: int, with_cookies: bool) -> None:
        super().__init__(url, size, with_cookies)
        self.connections: list[SansIOConnection] = []

    async def open(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        uri = parse_uri(self.url)
        connection = SansIOConnection(self, index, uri, self.headers(index))
        await loop.create_connection(lambda: connection, uri.host, uri.port)
        await asyncio.wait_for(connection.ready, 120)
        self.connections.append(connection)

    def abort(self) -> None:
        for connection in self.connections:
            connection.abort()


class SansIOConnection(asyncio.Protocol):
    def __init__(
        self, clients: Clients, index: int, uri: WebSocketURI, headers: dict[str, str]
    ) -> None:
        self.clients = clients
        self.index = index
        self.protocol = ClientProtocol(uri, extensions=None)
        self.headers = headers
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.opened = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        request = self.protocol.connect()
        for name, value in self.headers.items():
            request.headers[name] = value
        self.protocol.send_request(request)
        self._flush()

    def _flush(self) -> None:
        assert self.transport is not None
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        arrived = time.time()
        if not self.opened:
            self._handshake(data)
            return
        self.buffer += data
        while len(self.buffer) >= 2:
            opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            offset = 2
            if length == 126:
                length, offset = int.from_bytes(self.buffer[2:4], "big"), 4
            elif length == 127:
                length, offset = int.from_bytes(self.buffer[2:10], "big"), 10
            if len(self.buffer) < offset + length:
                return  # the rest of the frame is still on its way
            payload = bytes(self.buffer[offset : offset + length])
            del self.buffer[: offset + length]
            self._frame(opcode, payload, arrived)

    def _handshake(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        self.protocol.events_received()
        if self.protocol.handshake_exc is not None:
            self.ready.set_exception(self.protocol.handshake_exc)
        elif self.protocol.state is State.OPEN:
            self.opened = True
            self.protocol.send_text(HELLO.encode())
            self._flush()

    def _frame(self, opcode: int, payload: bytes, arrived: float) -> None:
        if opcode == Opcode.TEXT:
            if self.ready.done():
                self.clients.arrive(self.index, arrived, payload)
            else:
                self._first(payload)
        elif opcode == Opcode.PING:
            self.protocol.send_pong(payload)
            self._flush()
        elif opcode == Opcode.CLOSE:
            self.abort()

    def _first(self, payload: bytes) -> None:
        frame = json.loads(payload)
        if frame["type"] == "ready":
            self.ready.set_result(None)
        elif frame["type"] in ("error", "resync"):
            self.ready.set_exception(RuntimeError(f"client {self.index}: {frame}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.clients.closed += 1
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("closed before ready"))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


CLIENT_KINDS: dict[str, type[Clients]] = {"sansio": SansIOClients, "asyncio": AsyncioClients}


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The driver's own gen-2 collections (10,000 connections) must not show up as latency."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


@dataclass(frozen=True)
class Options:
    rounds: int | None
    gc_modes: list[str]
    batch: int
    client: str
    profile: Path | None
    quiet_wait: float


async def measure(kind: str, size: int, options: Options, workdir: Path) -> list[Run]:
    server = ServerProcess(kind, size, workdir)
    clients = CLIENT_KINDS[options.client](server.url, size, with_cookies=kind == "inbox")
    rounds = options.rounds or (10 if size >= 10_000 else 20)
    started = time.perf_counter()
    try:
        await server.start()
        rss_none = (await server.command("rss"))["rss_kb"]
        await clients.connect(options.batch)
        await asyncio.sleep(1.0)  # let the last handshakes settle
        idle = await server.command("rss")
        if idle["sockets"] != size:
            raise RuntimeError(f"{kind}: server holds {idle['sockets']} sockets, not {size}")
        kb = (idle["rss_kb"] - rss_none) / size
        log(
            f"{kind} {size}: {size} connected in {time.perf_counter() - started:.1f} s, "
            f"{kb:.1f} KB per connection"
        )
        runs = []
        with collector_paused():
            for gc_mode in options.gc_modes:
                profile = (
                    options.profile / f"{kind}-{size}-{gc_mode}.txt" if options.profile else None
                )
                await wait_until_quiet([os.getpid(), server.pid], options.quiet_wait)
                run = Run(kind, size, gc_mode, kb_per_connection=kb)
                # py-spy's own CPU would count as other load: when profiling, keep every round.
                quiet = 1.0 if profile else QUIET
                async with profiled(server, profile):
                    runs.append(await _rounds(run, rounds, server, clients, quiet))
        return runs
    finally:
        clients.abort()
        await server.stop()


@contextlib.asynccontextmanager
async def profiled(server: ServerProcess, output: Path | None) -> AsyncIterator[None]:
    """py-spy sampling the server (from the driver's core, without pausing the server)."""
    if output is None:
        yield
        return
    assert server.process is not None
    spy = await asyncio.create_subprocess_exec(
        "py-spy",
        "record",
        "--pid",
        str(server.process.pid),
        "--rate",
        "250",
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        str(output),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await asyncio.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        await spy.wait()
        log(f"profile written to {output}")


async def _rounds(
    run: Run, rounds: int, server: ServerProcess, clients: Clients, quiet: float
) -> Run:
    """One warm-up round, then `rounds - 1` rounds during which other processes left the
    machine alone (a round they disturbed is repeated, up to three times as many rounds)."""
    if run.gc_mode == "freeze":
        await server.command("freeze")
    await server.command("gc")  # count collections from here
    pids = [os.getpid(), server.pid]
    await clients.round(server)  # warm-up
    kept: list[tuple[list[float], dict[str, Any], float]] = []
    disturbed: list[tuple[list[float], dict[str, Any], float]] = []
    while len(kept) < rounds - 1 and len(kept) + len(disturbed) < 3 * rounds:
        meter = CpuMeter(pids)
        latencies, note = await clients.round(server)
        await asyncio.sleep(PAUSE_BETWEEN_ROUNDS)
        share = meter.others()
        (kept if share < quiet else disturbed).append((latencies, note, share))
    run.disturbed_rounds = len(disturbed)
    if not kept:  # never quiet: report what there is, flagged by its share of other load
        kept = disturbed
    for latencies, note, _ in kept:
        run.latencies_ms += latencies
        run.server_notes.append(note)
    run.others = sum(share for _, _, share in kept) / len(kept)
    run.gc_stats = await server.command("gc")
    end = await server.command("rss")
    run.held = end["sockets"] == run.size and clients.closed == 0
    log(
        f"{run.kind} {run.size} gc={run.gc_mode}: p50 {run.p50:.1f} p99 {run.p99:.1f} "
        f"max {run.max:.1f} ms over {len(kept)} rounds ({len(disturbed)} disturbed); server "
        f"gen-2 GCs {run.gc_stats['gen2_collections']} (longest "
        f"{run.gc_stats['gen2_longest_ms']} ms)"
    )
    return run


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# Reporting.
def _ms(value: float) -> str:
    return f"{value:,.1f}"


def table(results: dict[tuple[int, str], dict[str, Run]]) -> str:
    lines = [
        "| clients | server GC | inbox p50 / p99 / max (ms) | bare p50 / p99 / max (ms) "
        "| p99 ratio | KB per connection inbox / bare | other load inbox / bare |",
        "|---:|---|---|---|---:|---|---|",
    ]
    for (size, gc_mode), runs in sorted(results.items()):
        inbox, bare = runs.get("inbox"), runs.get("bare")
        cells = [f"{size:,}", "gc.freeze()" if gc_mode == "freeze" else "as shipped"]
        for run in (inbox, bare):
            cells.append(" / ".join(_ms(v) for v in (run.p50, run.p99, run.max)) if run else "-")
        cells.append(f"{inbox.p99 / bare.p99:.2f}x" if inbox and bare else "-")
        cells.append(" / ".join(f"{r.kb_per_connection:.1f}" if r else "-" for r in (inbox, bare)))
        cells.append(" / ".join(f"{r.others:.0%}" if r else "-" for r in (inbox, bare)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def target_checks(results: dict[tuple[int, str], dict[str, Run]], gc_mode: str) -> list[str]:
    checks = []
    for (size, mode), runs in sorted(results.items()):
        if mode != gc_mode or "inbox" not in runs:
            continue
        inbox = runs["inbox"]
        if size in P99_LIMITS_MS:
            limit = P99_LIMITS_MS[size]
            checks.append(
                _check(
                    inbox.p99 < limit, f"p99 < {limit:.0f} ms at {size:,}", f"{inbox.p99:.1f} ms"
                )
            )
        if size == RATIO_LIMIT_SIZE and "bare" in runs:
            ratio = inbox.p99 / runs["bare"].p99
            checks.append(
                _check(
                    ratio <= RATIO_LIMIT,
                    f"p99 at {size:,} within {RATIO_LIMIT}x bare broadcast",
                    f"{ratio:.2f}x",
                )
            )
        if size == HELD_SIZE:
            checks.append(
                _check(
                    inbox.kb_per_connection < MEMORY_LIMIT_KB,
                    f"under {MEMORY_LIMIT_KB:.0f} KB per idle connection",
                    f"{inbox.kb_per_connection:.1f} KB",
                )
            )
            checks.append(
                _check(
                    inbox.held,
                    f"{size:,} connections held",
                    "all open after every round" if inbox.held else "some lost",
                )
            )
    return checks


def _check(ok: bool, target: str, measured: str) -> str:
    return f"- {'met' if ok else 'MISSED'}: {target} (measured {measured})"


def server_notes(results: dict[tuple[int, str], dict[str, Run]]) -> str:
    lines = []
    for (size, gc_mode), runs in sorted(results.items()):
        for kind, run in sorted(runs.items()):
            extra = (
                f"record+commit {run.mean_note('record_ms'):.1f} ms (not in the latency), "
                f"publish call {run.mean_note('publish_ms'):.1f} ms"
                if kind == "inbox"
                else f"broadcast() call {run.mean_note('send_ms'):.1f} ms"
            )
            lines.append(
                f"- {kind} {size:,} ({gc_mode}): {len(run.server_notes)} rounds kept "
                f"({run.disturbed_rounds} dropped for other load), {extra}; "
                f"server gen-2 GCs {run.gc_stats.get('gen2_collections')}, longest "
                f"{run.gc_stats.get('gen2_longest_ms')} ms"
            )
    return "\n".join(lines)


def machine_note() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}"
        for name in ("litestar", "uvicorn", "websockets", "msgspec", "SQLAlchemy")
    )
    return (
        f"{os.cpu_count()} cores ({model}), Linux {platform.release()}, Python "
        f"{platform.python_version()}; {versions}. Server pinned to core "
        f"{SERVER_CORE}, clients to core {DRIVER_CORE}; loopback; no compression; SQLite."
    )


def figures(results: dict[tuple[int, str], dict[str, Run]], options: Options) -> str:
    command = " ".join(["python bench/fanout.py", *sys.argv[1:]])
    parts = [
        f"Last run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `{command}`",
        "",
        f"Machine: {machine_note()} Clients: `{options.client}`.",
        "",
        table(results),
        "",
    ]
    for gc_mode in options.gc_modes:
        label = "as shipped" if gc_mode == "default" else "with gc.freeze() after warm-up"
        parts += [f"Targets, {label}:", "", *target_checks(results, gc_mode), ""]
    parts += ["Server side, per round (means):", "", server_notes(results)]
    return "\n".join(parts)


def write_readme(text: str) -> None:
    readme = README.read_text() if README.exists() else ""
    if FIGURES_START not in readme or FIGURES_END not in readme:
        readme += f"\n{FIGURES_START}\n{FIGURES_END}\n"
    head, rest = readme.split(FIGURES_START, 1)
    _, tail = rest.split(FIGURES_END, 1)
    README.write_text(f"{head}{FIGURES_START}\n{text}\n{FIGURES_END}{tail}")


# Running.
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument(
        "--rounds", type=int, help="rounds per size, the first discarded (default 20; 10 at 10,000)"
    )
    parser.add_argument(
        "--gc", default="default,freeze", help="server GC settings to measure: default, freeze"
    )
    parser.add_argument("--kinds", default="inbox,bare")
    parser.add_argument("--batch", type=int, default=200, help="clients connecting at once")
    parser.add_argument(
        "--client",
        choices=sorted(CLIENT_KINDS),
        default="sansio",
        help="how the clients read frames (default sansio; see bench/README.md)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="write py-spy samples of the servers during the rounds into this folder "
        "(needs py-spy; leaves bench/README.md alone: the sampler competes with the clients)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=600.0,
        help="seconds to wait, before each set of rounds, for other processes to leave the "
        "machine alone (default 600); the share they took is reported either way",
    )
    parser.add_argument("--no-readme", action="store_true", help="leave bench/README.md alone")
    return parser.parse_args()


async def main() -> None:
    args = parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    gc_modes = args.gc.split(",")
    kinds = args.kinds.split(",")
    os.sched_setaffinity(0, {DRIVER_CORE})
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if max(sizes) + 100 > hard:
        raise SystemExit(f"RLIMIT_NOFILE hard limit {hard} is too low for {max(sizes)} clients")
    options = Options(args.rounds, gc_modes, args.batch, args.client, args.profile, args.quiet_wait)
    if options.profile:
        options.profile.mkdir(parents=True, exist_ok=True)
    results: dict[tuple[int, str], dict[str, Run]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="fanout-"))
    try:
        for size in sizes:
            for kind in kinds:
                for run in await measure(kind, size, options, workdir):
                    results.setdefault((size, run.gc_mode), {})[kind] = run
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = figures(results, options)
    print(text)
    if not args.no_readme and not options.profile:
        write_readme(text)


if __name__ == "__main__":
    asyncio.run(main())
