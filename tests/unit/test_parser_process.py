"""The parsing process: the same results as parsing in this process, a thread takes over when
the child dies, and the child never outlives its parent, even a `kill -9`ed one (it would
otherwise hold the parent's stderr open, and `asyncio`'s `Process.wait()` with it)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from channels.email.parse import parse_message
from channels.email.parser_process import ParserProcess
from inbox.email.schemas import InboundMessage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"
ROOT = Path(__file__).resolve().parents[2]


def _comparable(parsed: InboundMessage) -> InboundMessage:
    # Without a usable Date header (or with one in the future) the time read is "now", which
    # differs between the two parses by the moments between them.
    received = parsed.received_at
    if received is not None and received > datetime.now(UTC) - timedelta(minutes=5):
        return msgspec.structs.replace(parsed, received_at=None)
    return parsed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose: it holds no pipes.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


async def test_the_child_parses_every_fixture_as_this_process_does() -> None:
    raws = [path.read_bytes() for path in sorted(FIXTURES.glob("*.eml"))]
    raws.append(b"\x00\xff not a message at all \r\n\r\n")
    assert len(raws) >= 30
    parser = await ParserProcess.start()
    try:
        parsed = await parser.parse(raws)
        again = await parser.parse(raws[:3])  # the pipe stays in step between chunks
    finally:
        await parser.close()
    assert not parser.failed
    assert [_comparable(p) for p in parsed] == [_comparable(parse_message(r)) for r in raws]
    assert [_comparable(p) for p in again] == [_comparable(p) for p in parsed[:3]]
    assert parsed[-1].parse_error or parsed[-1].raw is not None


async def test_a_thread_takes_over_when_the_child_dies() -> None:
    raws = [path.read_bytes() for path in sorted(FIXTURES.glob("*.eml"))[:5]]
    parser = await ParserProcess.start()
    try:
        assert len(await parser.parse(raws)) == 5
        os.kill(parser.pid, signal.SIGKILL)
        parsed = await parser.parse(raws)
        assert parser.failed
        assert [p.subject for p in parsed] == [parse_message(r).subject for r in raws]
        assert [p.message_id_header for p in await parser.parse(raws)] == [
            p.message_id_header for p in parsed
        ]
    finally:
        await parser.close()


PARENT = textwrap.dedent(
    """
    import asyncio, sys, time
    from channels.email.parser_process import ParserProcess

    async def main():
        parser = await ParserProcess.start()
        await parser.parse([b"From: a@example.com\\r\\nSubject: hi\\r\\n\\r\\nbody\\r\\n"])
        print(parser.pid, flush=True)
        time.sleep(60)  # blocked, as a worker could be when it is killed

    asyncio.run(main())
    """
)


async def test_the_child_ends_when_its_parent_is_killed() -> None:
    parent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PARENT,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert parent.stdout is not None
        line = await asyncio.wait_for(parent.stdout.readline(), 30)
        child = int(line)
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)
        # `wait()` returns only once every pipe to the parent is closed, the child's copies
        # of its stdout and stderr included.
        await asyncio.wait_for(parent.wait(), 10)
        for _ in range(100):
            if not _alive(child):
                break
            await asyncio.sleep(0.05)
        assert not _alive(child), "the parsing process outlived its parent"
    finally:
        if parent.returncode is None:
            parent.kill()
            await parent.wait()
